//! End-to-end tests of the `cli` example binary: each test runs the built binary against its own
//! temporary SQLite file, offline, and checks output and exit codes.
//!
//! `cargo test` builds the examples before it runs integration tests, so the binary is found at
//! `target/<profile>/examples/cli`. When only this test target was built (`cargo test --test cli`
//! on a fresh tree) the binary may be missing: the tests then print a notice and skip. Run
//! `cargo build --example cli` first in that case.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Environment variables that would change what the CLI does; removed for every run.
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

/// The example binary next to this test's executable, if it was built.
fn binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/cli-<hash> → target/<profile>/examples/cli
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir
        .join("examples")
        .join(format!("cli{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        return None;
    }
    warn_if_stale(&bin);
    Some(bin)
}

/// Warns (once per test) when a source of the example is newer than the binary: `cargo test
/// --test cli` alone does not rebuild examples.
fn warn_if_stale(bin: &Path) {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(built) = modified(bin) else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cli");
    let newer = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .any(|e| modified(&e.path()).is_some_and(|t| t > built));
    if newer {
        eprintln!(
            "WARNING: {} is older than examples/cli; run `cargo build --example cli` (or plain \
             `cargo test`) so these tests see the current code",
            bin.display()
        );
    }
}

/// One test's world: the binary, a temp directory and a SQLite database in it.
struct World {
    bin: PathBuf,
    dir: PathBuf,
}

impl World {
    /// A fresh world, or `None` (with a notice) when the binary has not been built.
    fn new(name: &str) -> Option<Self> {
        let Some(bin) = binary() else {
            eprintln!(
                "SKIPPED: the cli example binary is not built (run `cargo build --example cli`, \
                 or `cargo test`, which builds examples)"
            );
            return None;
        };
        let dir =
            std::env::temp_dir().join(format!("salesagent-cli-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        Some(Self { bin, dir })
    }

    fn database(&self) -> String {
        format!("sqlite://{}", self.dir.join("test.db").display())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        for k in SCRUBBED_ENV {
            cmd.env_remove(k);
        }
        cmd.current_dir(&self.dir)
            .arg("--offline")
            .arg("--database")
            .arg(self.database())
            .arg("--data")
            .arg(data_dir())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the CLI and returns its output (never panics inside the child: checked by callers).
    fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run the cli binary");
        assert_no_panic(&out);
        out
    }

    /// Runs the CLI with `input` on standard input.
    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write as _;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the cli binary");
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(input.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait for the cli binary");
        assert_no_panic(&out);
        out
    }

    /// Runs the CLI and asserts success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cli {args:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs the CLI and asserts it failed with `code`; returns stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "cli {args:?}: expected exit code {code}\nstdout:\n{}\nstderr:\n{}",
            stdout(&out),
            stderr(&out)
        );
        let err = stderr(&out);
        assert!(
            !err.trim().is_empty(),
            "cli {args:?}: a failure must explain itself on stderr"
        );
        // The one-line error comes last, after the lines saying which connector each port uses.
        err.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .to_owned()
    }

    /// Submits the first three sample forms and works the queue until idle.
    fn seed(&self) {
        let forms = data_dir().join("forms");
        let files: Vec<String> = [
            "01-acme-demo.json",
            "02-northwind-pricing.json",
            "03-helix-security.json",
        ]
        .iter()
        .map(|f| forms.join(f).display().to_string())
        .collect();
        let mut args = vec!["submit"];
        args.extend(files.iter().map(String::as_str));
        let out = self.ok(&args);
        assert_eq!(out.matches(" new").count(), 3, "three new jobs:\n{out}");
        let out = self.ok(&["work", "--until-idle", "--concurrency", "2"]);
        assert!(
            out.starts_with("jobs: ") && out.contains(" 0 to retry, 0 dead"),
            "every job done: {out}"
        );
    }

    /// `drafts --json` parsed.
    fn drafts(&self) -> Vec<Value> {
        let v: Value = serde_json::from_str(&self.ok(&["drafts", "--json"])).expect("drafts json");
        v.as_array().expect("an array").clone()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_no_panic(o: &Output) {
    let err = stderr(o);
    assert!(
        !err.contains("panicked"),
        "the cli panicked:\n{err}\nstdout:\n{}",
        stdout(o)
    );
    assert_ne!(
        o.status.code(),
        Some(101),
        "exit code 101 is a panic:\n{err}"
    );
}

fn id_of(d: &Value) -> String {
    d["id"].as_str().expect("draft id").to_owned()
}

fn email_of(d: &Value) -> String {
    d["contact_email"]
        .as_str()
        .expect("contact email")
        .to_owned()
}

#[test]
fn operator_flow_approve_reject_edit_send_in_draft_only_mode() {
    let Some(w) = World::new("operator") else {
        return;
    };
    w.seed();
    let drafts = w.drafts();
    assert_eq!(drafts.len(), 3, "{drafts:?}");
    assert!(drafts.iter().all(|d| d["status"] == "PENDING"));

    // next: the top of the queue, with its priority factors.
    let next: Value = serde_json::from_str(&w.ok(&["next", "--json"])).expect("next json");
    let top = next["draft"]["id"]
        .as_str()
        .expect("next draft id")
        .to_owned();
    assert!(next["factors"].as_array().is_some_and(|f| !f.is_empty()));
    let text = w.ok(&["next"]);
    assert!(text.starts_with(&top), "{text}");

    let others: Vec<String> = drafts.iter().map(id_of).filter(|i| *i != top).collect();
    let approved = w.ok(&["approve", &top]);
    assert!(
        approved.starts_with(&format!("approved {top}")),
        "{approved}"
    );
    // Approving twice is an illegal transition: a clear error, not a crash.
    let err = w.fails(&["approve", &top], 1);
    assert!(err.starts_with("error:"), "{err}");

    let rejected = w.ok(&["reject", &others[0], "--reason", "too early"]);
    assert_eq!(
        rejected.trim(),
        format!("rejected {}: too early", others[0])
    );

    let edited = w.ok(&["edit", &others[1], "--subject", "A shorter subject"]);
    assert!(
        edited.contains(&format!("edited {}", others[1])),
        "{edited}"
    );
    let shown: Value =
        serde_json::from_str(&w.ok(&["show", &others[1], "--json"])).expect("show json");
    assert_eq!(shown["subject"], "A shorter subject");

    // rules: every rule's verdict, and the dry run over all drafts.
    let explain = w.ok(&["rules", "explain", &others[1]]);
    assert!(explain.starts_with(&others[1]), "{explain}");
    assert!(explain.lines().count() > 1, "{explain}");
    let dry = w.ok(&["rules", "dry-run"]);
    assert!(dry.contains("of 3 drafts"), "{dry}");

    // send: DRAFT_ONLY by default, the approved draft becomes a mailbox draft; nothing is sent.
    let outbox = w.dir.join("outbox");
    let spec = format!("outbox:{}", outbox.display());
    let sent = w.ok(&["send", "--mailbox", &spec, "--ignore-window"]);
    assert!(sent.contains(&format!("{top}: drafted")), "{sent}");
    assert!(sent.contains("mode DRAFT_ONLY"), "{sent}");
    let count = |sub: &str| {
        std::fs::read_dir(outbox.join(sub)).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
    };
    assert_eq!(count("drafts"), 1);
    assert_eq!(count("sent"), 0);
    // A second run has nothing left to do.
    let again = w.ok(&["send", "--mailbox", &spec, "--ignore-window"]);
    assert!(!again.contains("drafted"), "{again}");
    assert_eq!(count("drafts"), 1);

    let after = w.drafts();
    let sent_draft = after
        .iter()
        .find(|d| id_of(d) == top)
        .expect("the approved draft");
    assert_eq!(sent_draft["decision"]["decision"], "allow", "{sent_draft}");
    let mid = sent_draft["message_id"].as_str().expect("a message id");
    assert!(
        mid.ends_with("@salesagent.dev"),
        "without MESSAGE_ID_DOMAIN the Message-ID is on the sender's domain: {mid}"
    );
    assert!(
        std::fs::read_dir(outbox.join("drafts"))
            .expect("drafts dir")
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().contains(mid)),
        "the outbox draft is named by its Message-ID {mid}"
    );
    assert!(after.iter().all(|d| d["version"].as_u64().is_some()));
    let statuses: Vec<(String, String)> = after
        .iter()
        .map(|d| {
            (
                id_of(d),
                d["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(statuses.contains(&(others[0].clone(), "REJECTED".to_owned())));
    assert!(statuses.contains(&(others[1].clone(), "PENDING".to_owned())));
    assert!(!statuses.iter().any(|(i, s)| *i == top && s == "PENDING"));

    // Bad input: a malformed id, an unknown id, an unsupported mailbox.
    w.fails(&["approve", "not-a-uuid"], 2);
    w.fails(&["approve", "00000000-0000-7000-8000-000000000000"], 2);
    // An unknown mailbox is bad input (exit 2), naming the choices.
    let err = w.fails(&["send", "--mailbox", "smtp://example.com"], 2);
    assert!(err.contains("gmail, imap or outbox:DIR"), "{err}");
}

#[test]
fn kill_switch_and_suppression_list() {
    let Some(w) = World::new("killswitch") else {
        return;
    };
    assert_eq!(
        w.ok(&["kill-switch", "status"]).trim(),
        "kill switch is off"
    );
    assert_eq!(w.ok(&["kill-switch", "on"]).trim(), "kill switch is ON");
    assert_eq!(w.ok(&["kill-switch", "status"]).trim(), "kill switch is ON");
    assert_eq!(w.ok(&["kill-switch", "off"]).trim(), "kill switch is off");
    w.fails(&["kill-switch", "maybe"], 2);

    assert_eq!(
        w.ok(&[
            "suppress",
            "add",
            "Nobody@Example.com",
            "--note",
            "asked by phone"
        ])
        .trim(),
        "suppressed Nobody@example.com"
    );
    let list = w.ok(&["suppress", "list"]);
    assert!(list.to_lowercase().contains("nobody@example.com"), "{list}");
    assert!(list.contains("asked by phone"), "{list}");
    assert!(list.contains("manual"), "{list}");
    assert!(
        w.ok(&["suppress", "remove", "nobody@example.com"])
            .ends_with("removed\n")
    );
    assert!(
        w.ok(&["suppress", "remove", "nobody@example.com"])
            .contains("was not suppressed")
    );
    assert_eq!(w.ok(&["suppress", "list"]).trim(), "");
    w.fails(&["suppress", "add", "not an address"], 2);
}

#[test]
fn outcomes_types_record_stats_and_classify() {
    let Some(w) = World::new("outcomes") else {
        return;
    };
    let types: Value =
        serde_json::from_str(&w.ok(&["outcomes", "types", "--json"])).expect("types json");
    let types = types.as_array().expect("an array");
    assert_eq!(types.len(), 20, "{types:?}");
    assert!(
        types
            .iter()
            .any(|t| t["type"] == "email_replied" && t["category"] == "email")
    );
    let table = w.ok(&["outcomes", "types"]);
    assert_eq!(table.lines().count(), 21, "{table}");

    w.seed();
    let drafts = w.drafts();
    let email = email_of(&drafts[0]);
    let recorded = w.ok(&["outcomes", "record", &email, "email_replied"]);
    assert!(
        recorded.starts_with(&format!("recorded email_replied for {email}")),
        "{recorded}"
    );
    // A reply stops the contact's pending drafts.
    assert!(recorded.contains("draft(s) stopped"), "{recorded}");

    let stats: Value =
        serde_json::from_str(&w.ok(&["outcomes", "stats", "--json"])).expect("stats json");
    assert_eq!(stats["overall"]["total"], 1, "{stats}");
    let text = w.ok(&["outcomes", "stats", "--by", "day"]);
    assert!(text.starts_with("period: all time\noverall:"), "{text}");
    assert!(text.contains("email_replied 1"), "{text}");

    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("salesagent-core/tests/fixtures/outcomes");
    let dsn = fixtures.join("dsn_postfix_user_unknown.eml");
    let ooo = fixtures.join("ooo_en_exchange.eml");
    let out = w.ok(&[
        "outcomes",
        "classify",
        &dsn.display().to_string(),
        &ooo.display().to_string(),
    ]);
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0][1], "email_bounced", "{out}");
    assert_eq!(lines[1][1], "none", "automatic replies print none: {out}");

    // Bad input.
    let err = w.fails(&["outcomes", "record", &email, "not_a_type"], 2);
    assert!(err.starts_with("error:"), "{err}");
    w.fails(&["outcomes", "record", "not-an-email", "email_replied"], 2);
    w.fails(&["outcomes", "stats", "--since", "yesterday-ish"], 2);
    let missing = w.dir.join("missing.eml");
    let err = w.fails(&["outcomes", "classify", &missing.display().to_string()], 2);
    assert!(err.contains("could not be read"), "{err}");
}

#[test]
fn voice_learn_and_score_on_the_example_mail() {
    let Some(w) = World::new("voice") else {
        return;
    };
    let samples = data_dir().join("sent");
    let profile = w.dir.join("sam.json");
    let out = w.run(&[
        "voice",
        "learn",
        &samples.display().to_string(),
        "--name",
        "sam-default",
        "--owner",
        "sam@salesagent.dev",
        "-o",
        &profile.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("learned voice profile \"sam-default\" from 5 of 5 files"),
        "{}",
        stderr(&out)
    );
    let p: Value = serde_json::from_slice(&std::fs::read(&profile).expect("profile written"))
        .expect("profile json");
    assert_eq!(p["name"], "sam-default");
    // The voice command opens no store.
    assert!(!w.dir.join("test.db").exists());

    let mine = samples.join("02-acme-intro.txt");
    let theirs = w.dir.join("other.txt");
    std::fs::write(
        &theirs,
        "Subject: NOTICE\n\nDEAR VALUED CUSTOMER!!! PURSUANT TO SECTION 4(B) OF THE AGREEMENT, \
         YOUR ACCOUNT SHALL BE TERMINATED FORTHWITH!!! KINDLY REMIT PAYMENT IMMEDIATELY!!!\n\n\
         REGARDS, THE BILLING DEPARTMENT\n",
    )
    .expect("write a sample");
    let scores = w.ok(&[
        "voice",
        "score",
        &profile.display().to_string(),
        &mine.display().to_string(),
        &theirs.display().to_string(),
    ]);
    let parsed: Vec<f64> = scores
        .lines()
        .map(|l| {
            let (_, s) = l.rsplit_once('\t').expect("path<TAB>score");
            s.parse().expect("a number")
        })
        .collect();
    assert_eq!(parsed.len(), 2, "{scores}");
    assert!(parsed.iter().all(|s| (0.0..=1.0).contains(s)), "{scores}");
    assert!(parsed[0] > parsed[1], "own mail scores higher: {scores}");

    // Bad input.
    let empty = w.dir.join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let err = w.fails(
        &[
            "voice",
            "learn",
            &empty.display().to_string(),
            "--name",
            "x",
            "-o",
            &w.dir.join("x.json").display().to_string(),
        ],
        2,
    );
    assert!(err.contains("no .txt or .eml files"), "{err}");
    let err = w.fails(
        &[
            "voice",
            "score",
            &theirs.display().to_string(),
            &mine.display().to_string(),
        ],
        2,
    );
    assert!(err.contains("not a voice profile"), "{err}");
    w.fails(&["voice", "learn", "--name", "x", "-o", "y.json"], 2);
}

#[test]
fn erase_removes_every_trace_of_a_contact() {
    let Some(w) = World::new("erase") else {
        return;
    };
    w.seed();
    let drafts = w.drafts();
    let email = email_of(&drafts[0]);
    let out = w.ok(&["erase", &email]);
    assert!(out.starts_with(&format!("erased {email}: ")), "{out}");
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("drafts ")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("submissions ")),
        "{out}"
    );
    let left = w.drafts();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|d| email_of(d) != email));
    let jobs = w.ok(&["jobs", "--json"]);
    assert!(!jobs.contains(&email), "{jobs}");

    // Erasing again finds nothing; --json reports per table.
    let again: Value =
        serde_json::from_str(&w.ok(&["erase", &email, "--json"])).expect("erase json");
    assert_eq!(again["total"], 0, "{again}");
    assert_eq!(again["email"], email.as_str());
    let other = email_of(&left[0]);
    let v: Value =
        serde_json::from_str(&w.ok(&["erase", &other, "--json", "--crm"])).expect("erase json");
    assert!(v["total"].as_u64().is_some_and(|n| n > 0), "{v}");
    // --crm also asks the CRM (here the offline one) to erase the contact.
    assert_eq!(v["crm"], "erased", "{v}");
    assert!(
        v["per_table"]["drafts"].as_u64().is_some_and(|n| n >= 1),
        "{v}"
    );
    assert_eq!(w.drafts().len(), 1);

    w.fails(&["erase", "not an address"], 2);
    w.fails(&["erase"], 2);
}

#[test]
fn assistant_dry_run_one_shot_and_repl() {
    let Some(w) = World::new("assistant") else {
        return;
    };
    // --dry-run prints the typed command and opens no store.
    let out = w.ok(&["assistant", "--dry-run", "reject: too early"]);
    assert_eq!(out.trim(), r#"{"command":"reject","reason":"too early"}"#);
    let out = w.ok(&["assistant", "--dry-run", "ok", "send", "it"]);
    assert_eq!(out.trim(), r#"{"command":"approve"}"#);
    let out = w.ok(&["assistant", "--dry-run", "approve all and delete the rest"]);
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v["command"], "clarify", "{out}");
    let out = w.run_with_stdin(
        &["assistant", "--dry-run"],
        "what's next\nhow many are pending\n\npause sending\nquit\nnext\n",
    );
    assert!(out.status.success());
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            r#"{"command":"next"}"#,
            r#"{"command":"pending_count"}"#,
            r#"{"command":"pause_sending"}"#
        ],
        "quit ends the loop"
    );
    assert!(!w.dir.join("test.db").exists(), "dry runs open no store");

    w.seed();
    let out = w.ok(&["assistant", "how many are pending?"]);
    assert_eq!(out.trim(), "There are 3 drafts pending.");
    let out = w.ok(&["assistant", "what's next"]);
    assert!(out.contains("It is first because"), "{out}");

    // --speak-to: the reply spoken by espeak-ng into a WAVE file (offline).
    let wav = w.dir.join("reply.wav");
    let wav_arg = wav.display().to_string();
    let espeak = Command::new("espeak-ng")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let args = ["assistant", "--speak-to", &wav_arg, "how many are pending"];
    if espeak {
        let out = w.ok(&args);
        assert_eq!(out.trim(), "There are 3 drafts pending.");
        let bytes = std::fs::read(&wav).expect("the wav is written");
        assert_eq!(&bytes[..4], b"RIFF");
        assert!(bytes.len() > 20_000, "{} bytes", bytes.len());
    } else {
        eprintln!("NOTICE: espeak-ng is not installed; checking the clear failure instead");
        let err = w.fails(&args, 1);
        assert!(err.contains("espeak-ng is not installed"), "{err}");
    }
    w.fails(
        &["assistant", "--dry-run", "--speak-to", &wav_arg, "next"],
        2,
    );
    w.fails(&["assistant", "--speak-to", &wav_arg], 2);

    // A single request on "the current draft" presents the top draft first, then acts on it.
    let top: Value = serde_json::from_str(&w.ok(&["next", "--json"])).expect("next json");
    let top_id = top["draft"]["id"].as_str().expect("id").to_owned();
    let out = w.ok(&["assistant", "--json", "reject: too early"]);
    let replies: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("reply json"))
        .collect();
    assert_eq!(replies.len(), 2, "{out}");
    assert_eq!(replies[0]["command"]["command"], "next");
    assert_eq!(replies[0]["draft"], top_id.as_str());
    assert_eq!(
        replies[1]["command"],
        serde_json::json!({"command": "reject", "reason": "too early"})
    );
    assert_eq!(replies[1]["source"], "parser");
    let shown: Value = serde_json::from_str(&w.ok(&["show", &top_id, "--json"])).expect("show");
    assert_eq!(shown["status"], "REJECTED");

    // Pausing needs a confirmation: refused without --yes, done with it.
    let err = w.fails(&["assistant", "pause sending"], 2);
    assert!(err.contains("not confirmed"), "{err}");
    assert_eq!(
        w.ok(&["kill-switch", "status"]).trim(),
        "kill switch is off"
    );
    let out = w.ok(&["assistant", "--yes", "pause sending"]);
    assert!(out.contains("Sending is paused"), "{out}");
    assert_eq!(w.ok(&["kill-switch", "status"]).trim(), "kill switch is ON");

    // The REPL keeps the current draft between lines and asks before resuming.
    let out = w.run_with_stdin(
        &["assistant"],
        "what's next\napprove\nresume sending\nyes\nhow many are pending\nexit\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].starts_with("Next is the draft to"), "{text}");
    assert!(lines[1].starts_with("Approved the draft to"), "{text}");
    assert!(lines[2].starts_with("Resume sending?"), "{text}");
    assert!(lines[3].starts_with("Sending is resumed"), "{text}");
    assert_eq!(
        lines[4],
        "There is 1 draft pending. 1 draft is approved and waiting to go out."
    );
    assert_eq!(
        w.ok(&["kill-switch", "status"]).trim(),
        "kill switch is off"
    );
}

#[test]
fn bad_invocations_fail_cleanly() {
    let Some(w) = World::new("bad") else {
        return;
    };
    let err = w.fails(&["no-such-command"], 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    w.fails(&["show", "not-a-uuid"], 2);
    w.fails(&["drafts", "--status", "bogus"], 2);
    let missing = w.dir.join("missing.json");
    let err = w.fails(&["submit", &missing.display().to_string()], 2);
    assert!(err.contains("missing.json"), "{err}");
    let help = w.ok(&["--help"]);
    for cmd in ["voice", "outcomes", "approve", "send", "erase", "assistant"] {
        assert!(help.contains(cmd), "--help lists {cmd}:\n{help}");
    }
}

#[test]
fn voice_learn_from_the_connected_mailbox_saves_a_new_version() {
    let Some(w) = World::new("voice-mailbox") else {
        return;
    };
    let profile = w.dir.join("from-mailbox.json");
    let out = w.run(&[
        "voice",
        "learn",
        "--from-mailbox",
        "--name",
        "default",
        "--owner",
        "sam@salesagent.dev",
        "-o",
        &profile.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The offline mailbox's sent folder is examples/data/sent (5 mails); the store already held
    // version 1 (the hand-written style of sender.json), so this is version 2.
    assert!(
        stderr(&out).contains("learned voice profile \"default\" version 2 for sam@salesagent.dev from 5 sent messages"),
        "{}",
        stderr(&out)
    );
    let p: Value = serde_json::from_slice(&std::fs::read(&profile).expect("profile written"))
        .expect("profile JSON");
    assert_eq!(p["version"], 2);
    assert_eq!(p["message_count"], 5);
    // Files and the mailbox are two different sources: not both at once.
    w.fails(
        &["voice", "learn", "x.txt", "--from-mailbox", "--name", "d"],
        2,
    );
    // `--max` only goes with `--from-mailbox`.
    w.fails(
        &[
            "voice", "learn", "x.txt", "--max", "3", "--name", "d", "-o", "y.json",
        ],
        2,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_google_exchanges_the_pasted_redirect_and_stores_the_tokens() {
    use std::io::{BufRead as _, BufReader, Write as _};
    use wiremock::matchers::{body_string_contains, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let Some(w) = World::new("auth-google") else {
        return;
    };
    // The token endpoint per ../shared/contracts/google/OAUTH.md: a form-encoded code exchange
    // with the PKCE verifier, answered with the documented success shape.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=4%2F0Ab-test"))
        .and(body_string_contains("code_verifier="))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "ya29.a0Af-example",
            "expires_in": 3599,
            "refresh_token": "1//refresh-example",
            "scope": "https://www.googleapis.com/auth/gmail.modify",
            "token_type": "Bearer"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let env = [
        ("GOOGLE_CLIENT_ID", "client-id".to_owned()),
        ("GOOGLE_CLIENT_SECRET", "client-secret".to_owned()),
        (
            "GOOGLE_REDIRECT_URI",
            "http://localhost:8080/oauth/callback".to_owned(),
        ),
        ("GOOGLE_TOKEN_URL", format!("{}/token", server.uri())),
    ];
    let cmd = |args: &[&str]| {
        let mut c = w.command(args);
        for (k, v) in &env {
            c.env(k, v);
        }
        c
    };

    let before = cmd(&["auth", "google", "--status"]).output().unwrap();
    assert_no_panic(&before);
    assert!(
        stdout(&before).contains("sam@salesagent.dev: not authorised yet"),
        "{}",
        stdout(&before)
    );

    // A redirect with another state is refused before any exchange.
    let spawn = |mut c: Command| {
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut child = spawn(cmd(&["auth", "google"]));
    let forged = tokio::task::spawn_blocking(move || {
        writeln!(
            child.stdin.take().unwrap(),
            "http://localhost:8080/oauth/callback?state=forged&code=4%2F0Ab-test"
        )
        .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(forged.status.code(), Some(1), "{}", stderr(&forged));
    assert!(
        stderr(&forged).contains("state does not match"),
        "{}",
        stderr(&forged)
    );

    // The real flow: read the consent URL, answer with its state.
    let mut child = spawn(cmd(&["auth", "google"]));
    let out = tokio::task::spawn_blocking(move || {
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let url = loop {
            let mut line = String::new();
            assert!(
                err.read_line(&mut line).unwrap() > 0,
                "no consent URL printed"
            );
            if line.starts_with("https://") {
                break line;
            }
        };
        let url = reqwest::Url::parse(url.trim()).unwrap();
        let q = |k: &str| {
            url.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        assert_eq!(q("client_id"), "client-id");
        assert_eq!(q("code_challenge_method"), "S256");
        assert_eq!(q("access_type"), "offline");
        assert!(q("scope").contains("gmail.modify"), "{url}");
        writeln!(
            child.stdin.take().unwrap(),
            "http://localhost:8080/oauth/callback?state={}&code=4%2F0Ab-test&scope=x",
            q("state")
        )
        .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sam@salesagent.dev: authorised (scopes: https://www.googleapis.com/auth/gmail.modify; refresh token stored)"),
        "{}",
        stdout(&out)
    );
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !all.contains("ya29.a0Af-example") && !all.contains("1//refresh-example"),
        "tokens must never be printed"
    );

    let after = cmd(&["auth", "google", "--status"]).output().unwrap();
    assert!(
        stdout(&after).contains("sam@salesagent.dev: authorised (refresh token stored)"),
        "{}",
        stdout(&after)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_jobs_are_listed_and_requeued() {
    use salesagent::core::model::{JobFailure, NewJob};
    use salesagent::core::ports::{DynClock, SystemClock};

    let Some(w) = World::new("dead-jobs") else {
        return;
    };
    // A job no handler can finish: claimed and failed permanently in the CLI's own database.
    let clock: DynClock = std::sync::Arc::new(SystemClock);
    let store = salesagent::services::open_store(&w.database(), clock)
        .await
        .unwrap();
    let kind = "test_only_kind";
    let (job, _) = store
        .enqueue(&NewJob::new(kind, serde_json::json!({})))
        .await
        .unwrap();
    let claimed = store
        .claim(
            "test",
            &[kind.to_owned()],
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap()
        .expect("claimable");
    store
        .fail(
            &claimed.lease,
            &JobFailure {
                error: "no handler for this kind".into(),
                retryable: false,
                retry_after: None,
            },
        )
        .await
        .unwrap();
    drop(store);
    let id = job.id.to_string();

    let table = w.ok(&["jobs", "--dead"]);
    assert!(
        table.contains(&id) && table.contains("dead") && table.contains("no handler"),
        "{table}"
    );
    let listed: Value = serde_json::from_str(&w.ok(&["jobs", "--dead", "--json"])).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["state"], "dead");
    assert_eq!(listed[0]["last_error"], "no handler for this kind");

    let out = w.ok(&["jobs", "requeue", &id]);
    assert!(out.contains(&format!("requeued job {id}")), "{out}");
    assert!(w.ok(&["jobs", "--dead"]).contains("(no dead jobs)"));
    let queued: Value =
        serde_json::from_str(&w.ok(&["jobs", "--state", "queued", "--kind", kind, "--json"]))
            .unwrap();
    assert_eq!(queued[0]["id"], id.as_str());
    assert_eq!(queued[0]["attempts"], 0);

    // Not dead any more: refused, with the reason; unknown or malformed ids are usage errors.
    let err = w.fails(&["jobs", "requeue", &id], 1);
    assert!(err.contains("not dead"), "{err}");
    w.fails(
        &["jobs", "requeue", "01940000-0000-7000-8000-000000000009"],
        2,
    );
    w.fails(&["jobs", "requeue", "nope"], 2);
    w.fails(&["jobs", "--state", "zombie"], 2);
}
