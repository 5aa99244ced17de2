//! Reloading settings while a host runs: on SIGHUP or when the file changes, validate the new
//! file and swap its operator-facing parts in, or keep the running settings and say why.

use super::load::{LoadedSettings, SettingsError, SettingsLoader, Source};
use super::{RELOADABLE, Settings};
use crate::services::runtime::LiveRuntime;
use salesagent_core::model::NewAuditEntry;
use salesagent_core::ports::DynStore;
use salesagent_core::sending::MimeOptions;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// What a reload changed.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Reload {
    /// Keys whose new values are now in effect ([`RELOADABLE`] parts).
    pub applied: Vec<String>,
    /// Keys that changed in the file but only take effect after a restart (still running
    /// with their old values).
    pub needs_restart: Vec<String>,
}

impl Reload {
    /// True when nothing took effect.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.applied.is_empty()
    }
}

fn reloadable(key: &str) -> bool {
    RELOADABLE
        .iter()
        .any(|p| key == *p || key.starts_with(&format!("{p}.")))
}

/// The settings a host runs with, replaceable while it runs. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct LiveSettings {
    loader: SettingsLoader,
    current: RwLock<Arc<LoadedSettings>>,
}

impl LiveSettings {
    /// Starts from `loaded` (what `loader` loaded at start-up); [`LiveSettings::reload`] loads
    /// again with the same loader (file, environment, flags).
    #[must_use]
    pub fn new(loader: SettingsLoader, loaded: LoadedSettings) -> Self {
        Self {
            loader,
            current: RwLock::new(Arc::new(loaded)),
        }
    }

    /// The settings in effect.
    #[must_use]
    pub fn current(&self) -> Arc<LoadedSettings> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The file watched (if any).
    #[must_use]
    pub fn path(&self) -> Option<std::path::PathBuf> {
        self.loader.path()
    }

    /// Loads the file again. When it validates, its [`RELOADABLE`] parts replace the running
    /// ones in one step; other changed keys are listed as needing a restart and keep their
    /// running values.
    ///
    /// # Errors
    /// [`SettingsError`] when the new file does not validate; the running settings stay.
    pub fn reload(&self) -> Result<Reload, SettingsError> {
        let new = self.loader.load()?;
        let mut guard = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = guard.clone();
        let before: BTreeMap<String, String> =
            old.entries().into_iter().map(|(k, v, _)| (k, v)).collect();
        let after: BTreeMap<String, String> =
            new.entries().into_iter().map(|(k, v, _)| (k, v)).collect();
        let mut reload = Reload::default();
        for key in before.keys().chain(after.keys()) {
            if before.get(key) == after.get(key)
                || reload.applied.contains(key)
                || reload.needs_restart.contains(key)
            {
                continue;
            }
            if reloadable(key) {
                reload.applied.push(key.clone());
            } else {
                reload.needs_restart.push(key.clone());
            }
        }
        if reload.applied.is_empty() {
            return Ok(reload);
        }
        let mut settings: Settings = old.settings.clone();
        settings.icp = new.settings.icp.clone();
        settings.sending.limits = new.settings.sending.limits;
        settings.sending.window = new.settings.sending.window.clone();
        settings.auto_approval = new.settings.auto_approval;
        settings.outcomes.impacts = new.settings.outcomes.impacts.clone();
        let mut provenance: BTreeMap<String, Source> = old
            .provenance
            .iter()
            .filter(|(k, _)| !reloadable(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        provenance.extend(
            new.provenance
                .iter()
                .filter(|(k, _)| reloadable(k))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        *guard = Arc::new(LoadedSettings {
            settings,
            path: old.path.clone(),
            provenance,
        });
        Ok(reload)
    }
}

/// What made a [`ReloadWatcher`] reload.
pub type Trigger = &'static str;

/// Waits for SIGHUP (on Unix) or a change of the settings file (its modification time or size,
/// polled), then reloads.
#[derive(Debug)]
pub struct ReloadWatcher {
    live: Arc<LiveSettings>,
    poll: Duration,
    seen: Option<(SystemTime, u64)>,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

fn stamp(path: Option<&std::path::Path>) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path?).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl ReloadWatcher {
    /// Watches `live`'s file every `poll` (zero: never; SIGHUP only) and listens for SIGHUP from now on (the signal no
    /// longer ends the process). Call inside a Tokio runtime.
    #[must_use]
    pub fn new(live: Arc<LiveSettings>, poll: Duration) -> Self {
        let seen = stamp(live.path().as_deref());
        Self {
            #[cfg(unix)]
            hangup: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok(),
            live,
            poll,
            seen,
        }
    }

    /// Waits for the next SIGHUP or file change and reloads: `("SIGHUP" | "file changed",
    /// what the reload did or why it was refused)`.
    pub async fn next(&mut self) -> (Trigger, Result<Reload, SettingsError>) {
        let path = self.live.path();
        let poll = self.poll;
        let trigger = loop {
            #[cfg(unix)]
            let hup = async {
                match self.hangup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hup = std::future::pending::<()>();
            let tick = async {
                if poll.is_zero() {
                    std::future::pending::<()>().await;
                } else {
                    tokio::time::sleep(poll).await;
                }
            };
            tokio::select! {
                () = hup => break "SIGHUP",
                () = tick => {
                    let now = stamp(path.as_deref());
                    if now.is_some() && now != self.seen {
                        break "file changed";
                    }
                }
            }
        };
        self.seen = stamp(path.as_deref());
        (trigger, self.live.reload())
    }
}

/// Writes a reload to the audit log: `settings.reload` with the keys applied and those needing
/// a restart, or `settings.reload_rejected` with the problems (the running settings stayed).
/// A reload that changed nothing is not written.
///
/// # Errors
/// Store errors.
pub async fn audit_reload(
    store: &DynStore,
    actor: &str,
    live: &LiveSettings,
    trigger: Trigger,
    outcome: &Result<Reload, SettingsError>,
) -> salesagent_core::Result<()> {
    let subject = live
        .path()
        .map_or_else(|| "(environment)".to_owned(), |p| p.display().to_string());
    let (action, details) = match outcome {
        Ok(r) if r.applied.is_empty() && r.needs_restart.is_empty() => return Ok(()),
        Ok(r) => (
            "settings.reload",
            serde_json::json!({
                "trigger": trigger,
                "applied": r.applied,
                "needs_restart": r.needs_restart,
            }),
        ),
        Err(e) => (
            "settings.reload_rejected",
            serde_json::json!({
                "trigger": trigger,
                "problems": e.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
        ),
    };
    store
        .append_audit(&NewAuditEntry {
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject,
            details,
        })
        .await?;
    Ok(())
}

/// Reloads until `stop` resolves: waits for SIGHUP or a change of the file (checked every
/// `poll`; zero: SIGHUP only), puts a valid file's [`RELOADABLE`] parts into `runtime` (its
/// next jobs use them), logs why an invalid one was refused (the running settings stay), and
/// writes either to the audit log ([`audit_reload`]). `mime`, when given, replaces the MIME
/// options built from the settings (a host's unsubscribe links set up at start). Both hosts
/// run this.
pub async fn run_reloads(
    live: Arc<LiveSettings>,
    runtime: LiveRuntime,
    mime: Option<MimeOptions>,
    store: DynStore,
    poll: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut watcher = ReloadWatcher::new(live.clone(), poll);
    tokio::pin!(stop);
    loop {
        let (trigger, outcome) = tokio::select! {
            next = watcher.next() => next,
            () = &mut stop => return,
        };
        let outcome = outcome.and_then(|reload| {
            if reload.applied.is_empty() {
                return Ok(reload);
            }
            let applied = live
                .current()
                .settings
                .runtime_config()
                .map(|mut c| {
                    if let Some(m) = &mime {
                        c.sending.mime = m.clone();
                    }
                    c
                })
                .and_then(|c| runtime.replace(&c));
            match applied {
                Ok(()) => Ok(reload),
                Err(e) => Err(SettingsError {
                    problems: vec![super::Problem {
                        at: super::Where::Default,
                        key: String::new(),
                        message: e.to_string(),
                    }],
                }),
            }
        });
        match &outcome {
            Ok(r) if r.applied.is_empty() && r.needs_restart.is_empty() => {}
            Ok(r) => {
                tracing::info!(%trigger, applied = ?r.applied, needs_restart = ?r.needs_restart, "settings reloaded");
            }
            Err(e) => {
                tracing::warn!(%trigger, "settings not reloaded (the running ones stay): {e}");
            }
        }
        if let Err(e) = audit_reload(&store, "system:settings", &live, trigger, &outcome).await {
            tracing::warn!(error = %e, "settings reload not written to the audit log");
        }
    }
}
