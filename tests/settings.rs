//! The settings file (`salesagent::settings`): the sample equals `config init`, precedence
//! default < file < env < flag, errors with key and position for broken files, reload, and
//! the sender identity (no "Salesagent" unless the settings say so).

use salesagent::settings::{
    LiveSettings, Settings, SettingsLoader, Source, Where, company_from_domain, init_file,
};
use std::collections::HashMap;
use std::path::Path;

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

fn load_text(text: &str) -> Result<salesagent::settings::LoadedSettings, String> {
    SettingsLoader::from_lookup(|_| None)
        .text("salesagent.toml", text)
        .load()
        .map_err(|e| e.to_string())
}

#[test]
fn the_sample_file_is_what_config_init_writes_and_holds_every_default() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/salesagent.toml");
    let text = std::fs::read_to_string(&sample).expect("examples/salesagent.toml");
    assert!(
        text == init_file(),
        "examples/salesagent.toml differs from `cli config init`: regenerate it with \
         `cargo run --example cli -- config init examples/salesagent.toml --force`"
    );
    let loaded = load_text(&text).expect("the sample loads");
    assert_eq!(loaded.settings, Settings::default());
    // Every key is written out: each effective value comes from the file.
    for (key, _, source) in loaded.entries() {
        assert_eq!(source, Source::File, "{key} is missing from the sample");
    }
}

#[test]
fn precedence_is_default_then_file_then_env_then_flag() {
    let file = "[sending.window]\nstart_hour = 7\nend_hour = 19\n\n[sender]\nemail = \"ann@acme-robotics.com\"\n\n[store]\ndatabase = \"sqlite://file.db\"\n";
    let loaded = SettingsLoader::from_lookup(lookup(&[
        ("SEND_WINDOW", "8-18"),
        ("DATABASE_URL", "sqlite://env.db"),
        ("SEND_LIMIT_CONTACT_WEEK", "3"),
    ]))
    .text("salesagent.toml", file)
    .flag("--database", "store.database", "sqlite://flag.db")
    .load()
    .expect("loads");
    let s = &loaded.settings;
    // Default: nobody set it.
    assert_eq!(s.sending.limits.per_contact_day, 20);
    assert_eq!(
        loaded.source_of("sending.limits.per_contact_day"),
        Source::Default
    );
    // File over default.
    assert_eq!(s.sender.email, "ann@acme-robotics.com");
    assert_eq!(loaded.source_of("sender.email"), Source::File);
    // Env over file.
    assert_eq!(
        (s.sending.window.start_hour, s.sending.window.end_hour),
        (8, 18)
    );
    assert_eq!(
        loaded.source_of("sending.window.end_hour"),
        Source::Env("SEND_WINDOW".into())
    );
    assert_eq!(s.sending.limits.per_contact_week, 3);
    // Flag over env over file.
    assert_eq!(s.store.database, "sqlite://flag.db");
    assert_eq!(
        loaded.source_of("store.database"),
        Source::Flag("--database".into())
    );
    // SALESAGENT_CONFIG names the file when no --config is given.
    let dir = tempdir();
    let path = dir.join("s.toml");
    std::fs::write(&path, "[auto_approval]\nicp_threshold = 90\n").unwrap();
    let p = path.display().to_string();
    let loaded = SettingsLoader::from_lookup(lookup(&[("SALESAGENT_CONFIG", &p)]))
        .load()
        .unwrap();
    assert_eq!(loaded.settings.auto_approval.icp_threshold, 90);
    assert_eq!(loaded.path.as_deref(), Some(path.as_path()));
}

#[test]
fn environment_only_gives_the_same_settings_as_the_file() {
    let file = r#"
[sender]
email = "sam@northwind-traders.com"
name = "Sam Berger"
company = "Northwind"
[store]
database = "sqlite://x.db"
[sending]
mode = "real_sends"
mailbox = "outbox:/tmp/out"
[sending.window]
start_hour = 8
end_hour = 18
weekends = true
time_zone = "Europe/Berlin"
[sending.limits]
per_contact_week = 3
per_contact_day = 5
per_sender_day = 100
per_domain_day = 40
[auto_approval]
enabled = true
icp_threshold = 70
[queue]
recency_half_life_hours = 12.0
[outcomes.impacts]
email_replied = 6
[outcomes.scan_interval_secs]
mailbox = 30
"#;
    let from_file = load_text(file).unwrap().settings;
    let env = SettingsLoader::from_lookup(lookup(&[
        ("SALESAGENT_SENDER", "sam@northwind-traders.com"),
        ("SENDER_NAME", "Sam Berger"),
        ("SENDER_COMPANY", "Northwind"),
        ("DATABASE_URL", "sqlite://x.db"),
        ("ALLOW_REAL_SENDS", "true"),
        ("SALESAGENT_MAILBOX", "outbox:/tmp/out"),
        ("SEND_WINDOW", "8-18"),
        ("SEND_WINDOW_WEEKENDS", "true"),
        ("SEND_TIME_ZONE", "Europe/Berlin"),
        ("SEND_LIMIT_CONTACT_WEEK", "3"),
        ("SEND_LIMIT_CONTACT_DAY", "5"),
        ("SEND_LIMIT_SENDER_DAY", "100"),
        ("SEND_LIMIT_DOMAIN_DAY", "40"),
        ("AUTO_APPROVE_ENABLED", "true"),
        ("AUTO_APPROVE_ICP_THRESHOLD", "70"),
        ("QUEUE_HALF_LIFE_HOURS", "12"),
        ("OUTCOME_IMPACTS", "email_replied=6"),
        ("OUTCOME_SCAN_MAILBOX_SECS", "30"),
    ]))
    .load()
    .unwrap()
    .settings;
    assert_eq!(from_file, env);
    // And what the library is configured with is the same too.
    assert_eq!(
        from_file.sending_config().unwrap(),
        env.sending_config().unwrap()
    );
    assert_eq!(
        from_file.pipeline_config().unwrap(),
        env.pipeline_config().unwrap()
    );
    // The variables the library read before there was a file mean what they meant.
    let legacy = salesagent::core::sending::SendingConfig::from_lookup(
        lookup(&[
            ("ALLOW_REAL_SENDS", "true"),
            ("SEND_WINDOW", "8-18"),
            ("SEND_WINDOW_WEEKENDS", "true"),
            ("SEND_TIME_ZONE", "Europe/Berlin"),
            ("SEND_LIMIT_CONTACT_WEEK", "3"),
            ("SEND_LIMIT_CONTACT_DAY", "5"),
            ("SEND_LIMIT_SENDER_DAY", "100"),
            ("SEND_LIMIT_DOMAIN_DAY", "40"),
            ("AUTO_APPROVE_ENABLED", "true"),
            ("AUTO_APPROVE_ICP_THRESHOLD", "70"),
            ("QUEUE_HALF_LIFE_HOURS", "12"),
        ]),
        &salesagent::core::model::Domain::parse("northwind-traders.com").unwrap(),
    )
    .unwrap();
    let ours = env.sending_config().unwrap();
    assert_eq!(ours.policy, legacy.policy);
    assert_eq!(ours.rules, legacy.rules);
    assert_eq!(ours.queue, legacy.queue);
}

/// One broken file: the key the error must name and the 1-based line and column.
struct Broken {
    text: &'static str,
    key: &'static str,
    line: usize,
    column: usize,
    says: &'static str,
}

const fn b(
    text: &'static str,
    key: &'static str,
    line: usize,
    column: usize,
    says: &'static str,
) -> Broken {
    Broken {
        text,
        key,
        line,
        column,
        says,
    }
}

const BROKEN: &[Broken] = &[
    b("bogus = 1\n", "bogus", 1, 1, "allowed keys"),
    b(
        "[sender]\nemial = \"a@b.co\"\n",
        "sender.emial",
        2,
        1,
        "`email`",
    ),
    b(
        "[sending]\nmode = \"sometimes\"\n",
        "sending.mode",
        2,
        8,
        "`real_sends`",
    ),
    b(
        "[sending.window]\nstart_hour = \"nine\"\n",
        "sending.window.start_hour",
        2,
        14,
        "u8",
    ),
    b(
        "[sending.window]\nstart_hour = 300\n",
        "sending.window.start_hour",
        2,
        14,
        "u8",
    ),
    b(
        "[sending.window]\nenabled = \"yes\"\n",
        "sending.window.enabled",
        2,
        11,
        "boolean",
    ),
    b(
        "[sending.window]\nstart_hour = 18\nend_hour = 9\n",
        "sending.window.end_hour",
        3,
        12,
        "start_hour < end_hour",
    ),
    b(
        "[sending.window]\ntime_zone = \"Mars/Olympus\"\n",
        "sending.window.time_zone",
        2,
        13,
        "Europe/Berlin",
    ),
    b(
        "[sending.limits]\nper_contact_week = 0\n",
        "sending.limits.per_contact_week",
        2,
        20,
        "1..=1000",
    ),
    b(
        "[sending.limits]\nper_domain_day = 500\n",
        "sending.limits.per_domain_day",
        2,
        18,
        "per_domain_day <= per_sender_day",
    ),
    b(
        "[sending]\nmailbox = \"pigeon\"\n",
        "sending.mailbox",
        2,
        11,
        "outbox:DIR",
    ),
    b(
        "[sender]\nemail = \"not-an-address\"\n",
        "sender.email",
        2,
        9,
        "e-mail",
    ),
    b(
        "[sender]\nvoice_threshold = 1.5\n",
        "sender.voice_threshold",
        2,
        19,
        "0.0..=1.0",
    ),
    b(
        "[sender]\ntime_zone = \"Berlin\"\n",
        "sender.time_zone",
        2,
        13,
        "IANA",
    ),
    b(
        "[store]\ndatabase = \"mysql://db\"\n",
        "store.database",
        2,
        12,
        "postgres://",
    ),
    b(
        "[ports]\ncrm = \"hubspot\"\n",
        "ports.crm",
        2,
        7,
        "`offline`",
    ),
    b(
        "[host]\nlisten = \"localhost\"\n",
        "host.listen",
        2,
        10,
        "IP:PORT",
    ),
    b("[host]\nworkers = -1\n", "host.workers", 2, 11, "u32"),
    b(
        "[auto_approval]\nicp_threshold = 101\n",
        "auto_approval.icp_threshold",
        2,
        17,
        "0..=100",
    ),
    b(
        "[queue]\nrecency_half_life_hours = 0.0\n",
        "queue.recency_half_life_hours",
        2,
        27,
        "0.1..=8760.0",
    ),
    b(
        "[outcomes.impacts]\nemail_replied = 20\n",
        "outcomes.impacts.email_replied",
        2,
        17,
        "-5..=10",
    ),
    b(
        "[outcomes.impacts]\nemail_teleported = 1\n",
        "outcomes.impacts.email_teleported",
        2,
        1,
        "`email_replied`",
    ),
    b(
        "[slots]\nday_start = \"9am\"\n",
        "slots.day_start",
        2,
        13,
        "HH:MM",
    ),
    b(
        "[slots]\nday_start = \"17:00\"\nday_end = \"09:00\"\n",
        "slots.day_end",
        3,
        11,
        "day_start < day_end",
    ),
    b(
        "[slots]\nworking_days = [\"mon\", \"funday\"]\n",
        "slots.working_days[1]",
        2,
        24,
        "\"sun\"",
    ),
    b(
        "[icp.tiers]\na = 40\nb = 60\n",
        "icp.tiers.b",
        3,
        5,
        "a >= b >= c",
    ),
    b(
        "[[icp.size_bands]]\nlabel = \"x\"\nmin = 100\nmax = 10\npoints = 1.0\n",
        "icp.size_bands[0].max",
        4,
        7,
        "min <= max",
    ),
    b("[icp]\nbase = \"ten\"\n", "icp.base", 2, 8, "f64"),
    b(
        "[[icp.seniority]]\nlabel = \"exec\"\npoints = 5.0\nwords = [\"ceo\"]\n",
        "icp.seniority[0].words",
        4,
        1,
        "`keywords`",
    ),
    b(
        "[icp.tiers]\na = 90\n\n[icp]\nbase = 1.0\n[icp.unknown]\nx = 1\n",
        "icp.unknown",
        6,
        6,
        "unknown key",
    ),
    b(
        "[sequences]\nsteps = [{ wait_business_days = 90, purpose = \"bump\" }]\n",
        "sequences.steps[0].wait_business_days",
        2,
        33,
        "60",
    ),
    b(
        "[sequences]\nsteps = [{ wait_business_days = 3, purpose = \"nudge\" }]\n",
        "sequences.steps[0].purpose",
        2,
        46,
        "break_up",
    ),
];

#[test]
fn broken_files_name_the_key_and_its_position() {
    assert!(BROKEN.len() >= 20);
    for case in BROKEN {
        let err = SettingsLoader::from_lookup(|_| None)
            .text("broken.toml", case.text)
            .load()
            .expect_err(case.text);
        let p = err.problems.first().expect("a problem");
        let text = err.to_string();
        assert_eq!(p.key, case.key, "key for {:?}: {text}", case.text);
        assert_eq!(
            p.at,
            Where::File {
                path: "broken.toml".into(),
                line: case.line,
                column: case.column
            },
            "position for {:?}: {text}",
            case.text
        );
        assert!(
            text.starts_with(&format!(
                "broken.toml:{}:{}: {}: ",
                case.line, case.column, case.key
            )),
            "{text}"
        );
        assert!(
            text.contains(case.says),
            "{:?}: {text:?} should say {:?}",
            case.text,
            case.says
        );
    }
}

#[test]
fn broken_environment_variables_are_named() {
    for (var, value, says) in [
        ("SEND_WINDOW", "9to5", "START-END"),
        ("ALLOW_REAL_SENDS", "maybe", "true or false"),
        ("SEND_LIMIT_CONTACT_WEEK", "many", "whole number"),
        ("SEND_LIMIT_CONTACT_WEEK", "0", "1..=1000"),
        ("AUTO_APPROVE_ICP_THRESHOLD", "200", "0..=100"),
        ("OUTCOME_IMPACTS", "email_replied=99", "outside"),
        ("SALESAGENT_SENDER", "nobody", "e-mail"),
    ] {
        let err = SettingsLoader::from_lookup(lookup(&[(var, value)]))
            .load()
            .expect_err(var);
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("environment variable {var}: ")) && text.contains(says),
            "{var}={value}: {text}"
        );
    }
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let err =
        load_text("[sending.limits]\nper_contact_week = 0\n[auto_approval]\nicp_threshold = 101\n")
            .unwrap_err();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("salesagent.toml:2:20: sending.limits.per_contact_week"));
    assert!(lines[1].starts_with("salesagent.toml:4:17: auto_approval.icp_threshold"));
}

#[test]
fn an_unreadable_file_is_an_error_not_defaults() {
    let err = SettingsLoader::from_lookup(|_| None)
        .file(Some("/nonexistent/salesagent.toml"))
        .load()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/salesagent.toml: cannot be read")
    );
}

#[test]
fn secrets_are_not_printed() {
    let loaded = SettingsLoader::from_lookup(lookup(&[(
        "DATABASE_URL",
        "postgres://app:hunter2@db.internal/sales",
    )]))
    .load()
    .unwrap();
    let secret_env = lookup(&[("OPENAI_API_KEY", "sk-very-secret")]);
    let text = loaded.describe(&secret_env);
    let json = loaded.describe_json(&secret_env).to_string();
    for out in [&text, &json] {
        assert!(
            !out.contains("hunter2") && !out.contains("sk-very-secret"),
            "{out}"
        );
    }
    assert!(text.contains("postgres://app:***@db.internal/sales"));
    assert!(text.contains("OPENAI_API_KEY: set (redacted)"));
}

#[test]
fn the_company_comes_from_the_settings_or_the_senders_domain() {
    let d = |s: &str| salesagent::core::model::Domain::parse(s).unwrap();
    assert_eq!(
        company_from_domain(&d("acme-robotics.com")),
        "Acme Robotics"
    );
    assert_eq!(company_from_domain(&d("example.com")), "Example");
    let s = Settings::default();
    let c = s.pipeline_config().unwrap();
    assert_eq!(c.sender_company, "Example");
    assert_eq!(c.sender_name, "Sales");
    let s = load_text(
        "[sender]\nemail = \"sam@northwind.io\"\ncompany = \"Northwind Traders\"\nname = \"Sam\"\n",
    )
    .unwrap()
    .settings;
    let c = s.pipeline_config().unwrap();
    assert_eq!(
        (c.sender_company.as_str(), c.sender_name.as_str()),
        ("Northwind Traders", "Sam")
    );
    assert_eq!(
        s.sending_config().unwrap().mime.sender_name.as_deref(),
        Some("Sam")
    );
}

/// Drafts written with the default settings (and with settings naming another company) never
/// say "Salesagent".
#[tokio::test]
async fn no_customer_facing_text_names_salesagent_unless_configured() {
    use salesagent::core::model::FormSubmission;
    use salesagent::core::offline::{
        FakeCalendar, FakeCrm, FakeDrive, FakeMailbox, ManualClock, MemoryStore,
    };
    use salesagent::core::pipeline::{Pipeline, Ports};
    use salesagent::core::ports::{Clock as _, DraftStore as _};
    use salesagent::core::writer::TemplateLlm;
    use std::sync::Arc;

    async fn draft(settings: &Settings) -> (String, String) {
        let clock = ManualClock::new(ManualClock::default_start()).shared();
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let ports = Ports {
            crm: Arc::new(FakeCrm::new()),
            mailbox: Arc::new(FakeMailbox::new().with_clock(clock.clone())),
            drive: Arc::new(FakeDrive::new()),
            calendar: Arc::new(FakeCalendar::new().with_clock(clock.clone())),
            llm: Arc::new(TemplateLlm),
            store: store.clone(),
            clock: clock.clone(),
        };
        let pipeline = Pipeline::new(ports, settings.pipeline_config().unwrap());
        let form = r#"{"submission_id": "f-1", "form_id": "contact-sales",
            "submitted_at": "2026-11-25T09:12:00Z",
            "fields": {"email": "ann.lee@acme-robotics.com", "firstname": "Ann",
                       "company": "Acme Robotics", "message": "Can we see a demo?"}}"#;
        let id = pipeline
            .process(&FormSubmission::from_canonical_json(form, clock.now()).unwrap())
            .await
            .unwrap();
        let d = store.get_draft(id).await.unwrap();
        (d.subject, d.body)
    }

    let (subject, body) = draft(&Settings::default()).await;
    for text in [&subject, &body] {
        assert!(!text.to_lowercase().contains("salesagent"), "{text}");
    }
    assert!(subject.contains("Example"), "{subject}");
    let named = load_text("[sender]\nemail = \"sam@salesagent.dev\"\ncompany = \"Salesagent\"\n")
        .unwrap()
        .settings;
    let (subject, _) = draft(&named).await;
    assert!(
        subject.contains("Salesagent"),
        "the settings say so: {subject}"
    );
}

#[test]
fn reload_swaps_the_operator_facing_parts_or_keeps_the_running_ones() {
    let dir = tempdir();
    let path = dir.join("salesagent.toml");
    std::fs::write(
        &path,
        "[sender]\nemail = \"a@acme.io\"\n[icp]\nbase = 10.0\n",
    )
    .unwrap();
    let loader = SettingsLoader::from_lookup(|_| None).file(Some(path.clone()));
    let live = LiveSettings::new(loader.clone(), loader.load().unwrap());

    // Nothing changed: nothing applied.
    assert!(live.reload().unwrap().applied.is_empty());

    // ICP and limits apply; the sender needs a restart and keeps its running value.
    std::fs::write(
        &path,
        "[sender]\nemail = \"b@acme.io\"\n[icp]\nbase = 40.0\n[sending.limits]\nper_contact_week = 4\n",
    )
    .unwrap();
    let r = live.reload().unwrap();
    assert_eq!(
        r.applied,
        vec![
            "icp.base".to_owned(),
            "sending.limits.per_contact_week".to_owned()
        ]
    );
    assert_eq!(r.needs_restart, vec!["sender.email".to_owned()]);
    let now = live.current();
    assert_eq!(now.settings.icp.base, 40.0);
    assert_eq!(now.settings.sending.limits.per_contact_week, 4);
    assert_eq!(now.settings.sender.email, "a@acme.io");

    // A broken file is refused with its position; the running settings stay.
    std::fs::write(&path, "[icp.tiers]\na = 10\nb = 60\n").unwrap();
    let err = live.reload().unwrap_err();
    assert!(
        err.to_string().contains("salesagent.toml:3:5: icp.tiers.b"),
        "{err}"
    );
    assert_eq!(live.current().settings.icp.base, 40.0);
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "salesagent-settings-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_changed_file_is_reloaded_without_a_signal() {
    use salesagent::settings::ReloadWatcher;
    use std::sync::Arc;
    let dir = tempdir();
    let path = dir.join("salesagent.toml");
    std::fs::write(&path, "[icp]\nbase = 10.0\n").unwrap();
    let loader = SettingsLoader::from_lookup(|_| None).file(Some(path.clone()));
    let live = Arc::new(LiveSettings::new(loader.clone(), loader.load().unwrap()));
    let mut watcher = ReloadWatcher::new(live.clone(), std::time::Duration::from_millis(20));
    // A different length, so the change is seen whatever the file system's time resolution.
    std::fs::write(
        &path,
        "[icp]\nbase = 25.0\n\n[auto_approval]\nicp_threshold = 85\n",
    )
    .unwrap();
    let (trigger, outcome) = watcher.next().await;
    assert_eq!(trigger, "file changed");
    let r = outcome.unwrap();
    assert_eq!(
        r.applied,
        vec![
            "auto_approval.icp_threshold".to_owned(),
            "icp.base".to_owned()
        ]
    );
    assert_eq!(live.current().settings.icp.base, 25.0);
    assert_eq!(live.current().settings.auto_approval.icp_threshold, 85);
}

#[test]
fn the_follow_up_sequence_is_configured_in_the_file() {
    let loaded = load_text("[sequences]\nenabled = false\nout_of_office_default_days = 10\n")
        .expect("valid");
    let seq = &loaded.settings.sequences;
    assert!(!seq.enabled);
    assert_eq!(seq.out_of_office_default_days, 10);
    // Steps left out keep the default three.
    assert_eq!(
        seq.steps,
        salesagent_core::sequences::SequenceConfig::default().steps
    );
    let runtime = loaded.settings.runtime_config().expect("runtime");
    assert!(!runtime.sequences.enabled);
}

#[test]
fn public_holidays_are_configured_in_the_file_globally_and_per_country() {
    let loaded = load_text(
        "[sequences]\nholidays = [\"2027-01-01\"]\n\n\
         [sequences.holidays_by_country]\nDE = [\"2026-12-25\", \"2026-12-26\"]\n",
    )
    .expect("valid");
    let seq = &loaded.settings.sequences;
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    assert_eq!(seq.holidays, vec![day(2027, 1, 1)]);
    assert_eq!(
        seq.holidays_for(Some("de")),
        vec![day(2026, 12, 25), day(2026, 12, 26), day(2027, 1, 1)]
    );
    assert_eq!(seq.holidays_for(Some("FR")), vec![day(2027, 1, 1)]);
    let runtime = loaded.settings.runtime_config().expect("runtime");
    assert_eq!(runtime.sequences.holidays_by_country.len(), 1);
    // Not a date: the key is named.
    let err = load_text("[sequences]\nholidays = [\"25 December\"]\n").unwrap_err();
    assert!(
        err.contains("sequences") && err.contains("holidays"),
        "{err}"
    );
}
