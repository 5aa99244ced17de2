//! Reads of senders' voice profiles on SQLite, shared by the callers waiting at the same time.
//!
//! Every pipeline run reads its sender's voice profiles
//! ([`VoiceStore::voice_profiles`](salesagent_core::ports::VoiceStore::voice_profiles)). On
//! SQLite each read is a turn on a pooled connection: a command to the connection's thread and
//! the ping sqlx sends when the connection goes back to the pool, and an in-memory database has
//! one connection for everything, writes included. Reads that wait at the same time therefore
//! go out as one query: a caller queues its request; when no reader is running it starts one,
//! which takes a connection, then takes every request queued by then and answers them all from
//! one `SELECT`. There is no timer: a lone read goes out at once.
//!
//! Each caller's answer comes from a query that started after the caller asked (requests are
//! taken only once the reader holds its connection, just before the query is sent), so a
//! profile saved before a read began is always in its answer, as with a read of its own.

use crate::error::db;
use crate::{SqlStore, col};
use salesagent_core::model::VoiceProfile;
use salesagent_core::{Error, Result};
use sqlx::AssertSqlSafe;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Most distinct owners one query asks for (each is a bound parameter).
const MAX_OWNERS: usize = 64;

/// A caller waiting for the profiles of the owner with blind index `owner`.
#[derive(Debug)]
struct Waiting {
    owner: String,
    reply: oneshot::Sender<Result<Vec<VoiceProfile>>>,
}

/// The requests waiting for the reader, and whether one is running.
#[derive(Debug, Default)]
pub(crate) struct VoiceReads {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    pending: Vec<Waiting>,
    reading: bool,
    /// Queries sent so far (tests check that concurrent reads share them).
    #[cfg(test)]
    queries: usize,
}

impl VoiceReads {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Held only to move requests in and out: a panic cannot leave it half done.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `w`. True when no reader is running: the caller must start one.
    fn push(&self, w: Waiting) -> bool {
        let mut s = self.state();
        s.pending.push(w);
        !std::mem::replace(&mut s.reading, true)
    }

    /// Whether requests are queued; when none are, the reader counts as stopped (it must
    /// return, the next [`VoiceReads::push`] starts another).
    fn any_or_stop(&self) -> bool {
        let mut s = self.state();
        if s.pending.is_empty() {
            s.reading = false;
            return false;
        }
        true
    }

    /// The queued requests of at most [`MAX_OWNERS`] owners, oldest first (the reader alone
    /// takes, so after [`VoiceReads::any_or_stop`] said true this is never empty).
    fn take(&self) -> Vec<Waiting> {
        let mut s = self.state();
        let mut owners: Vec<&str> = Vec::new();
        let mut n = 0;
        for w in &s.pending {
            if !owners.contains(&w.owner.as_str()) {
                if owners.len() == MAX_OWNERS {
                    break;
                }
                owners.push(&w.owner);
            }
            n += 1;
        }
        #[cfg(test)]
        {
            s.queries += 1;
        }
        s.pending.drain(..n).collect()
    }

    /// For a reader ending early (cancelled with its runtime, or panicking): marks it stopped
    /// and drops what is queued, so those callers get an error instead of waiting forever.
    fn abandon(&self) {
        let mut s = self.state();
        s.reading = false;
        drop(std::mem::take(&mut s.pending));
    }

    /// Queries sent so far.
    #[cfg(test)]
    pub(crate) fn queries(&self) -> usize {
        self.state().queries
    }

    /// Requests queued and not yet taken.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.state().pending.len()
    }
}

/// Stops the reader's queue when the reader ends without finishing.
struct Reader<'s> {
    store: &'s SqlStore,
    finished: bool,
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.store.inner.voice_reads.abandon();
        }
    }
}

impl SqlStore {
    /// The latest version of each voice profile of the owner with blind index `owner`, by
    /// name, read together with the other reads waiting now (see the module documentation).
    pub(crate) async fn voice_profiles_shared(&self, owner: String) -> Result<Vec<VoiceProfile>> {
        let (reply, answer) = oneshot::channel();
        if self.inner.voice_reads.push(Waiting { owner, reply }) {
            // Its own task: a caller that stops waiting does not stop the others' read.
            tokio::spawn(self.clone().read_voice_profiles());
        }
        answer
            .await
            .map_err(|_| Error::unavailable("the voice profile reader stopped; retry"))?
    }

    /// The reader: takes a connection, then the requests queued by then, answers them from one
    /// query, and goes on until no request is left.
    async fn read_voice_profiles(self) {
        let mut guard = Reader {
            store: &self,
            finished: false,
        };
        while self.inner.voice_reads.any_or_stop() {
            let conn = self.pool().acquire().await;
            let group = self.inner.voice_reads.take();
            let mut owners: Vec<String> = group.iter().map(|w| w.owner.clone()).collect();
            owners.sort();
            owners.dedup();
            let found = match conn {
                Ok(mut conn) => self.voice_profiles_of(&mut conn, &owners).await,
                Err(e) => Err(db(e)),
            };
            match found {
                Ok(by_owner) => {
                    for w in group {
                        let profiles = by_owner.get(&w.owner).cloned().unwrap_or_default();
                        // A caller that stopped waiting needs no answer.
                        let _ = w.reply.send(Ok(profiles));
                    }
                }
                Err(e) => {
                    for w in group {
                        let _ = w.reply.send(Err(e.clone()));
                    }
                }
            }
        }
        guard.finished = true;
    }

    /// The latest version of each voice profile of each owner in `owners` (blind indexes,
    /// distinct), by owner.
    pub(crate) async fn voice_profiles_of(
        &self,
        conn: &mut sqlx::AnyConnection,
        owners: &[String],
    ) -> Result<BTreeMap<String, Vec<VoiceProfile>>> {
        let list = (1..=owners.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT v.owner_bidx, v.name, v.doc FROM voice_profiles v \
             WHERE v.owner_bidx IN ({list}) AND v.version = \
             (SELECT MAX(w.version) FROM voice_profiles w \
              WHERE w.owner_bidx = v.owner_bidx AND w.name = v.name) \
             ORDER BY v.owner_bidx, v.name"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for o in owners {
            q = q.bind(o.clone());
        }
        let rows = q.fetch_all(conn).await.map_err(db)?;
        let mut by_owner: BTreeMap<String, Vec<VoiceProfile>> = BTreeMap::new();
        for r in &rows {
            let owner: String = col(r, "owner_bidx")?;
            let name: String = col(r, "name")?;
            let profile = self.open(
                &format!("voice_profiles:{owner}:{name}"),
                &col::<String>(r, "doc")?,
            )?;
            by_owner.entry(owner).or_default().push(profile);
        }
        Ok(by_owner)
    }
}

#[cfg(test)]
mod tests {
    use crate::SqlStore;
    use salesagent_core::model::{EmailAddress, VoiceProfile, VoiceProfileId, VoiceStyle};
    use salesagent_core::ports::VoiceStore as _;

    fn profile(owner: &str, name: &str) -> VoiceProfile {
        VoiceProfile {
            id: VoiceProfileId::new(),
            owner: EmailAddress::parse(owner).unwrap(),
            name: name.into(),
            version: 0,
            message_count: 3,
            updated_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            style: VoiceStyle::default(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reads_share_queries_and_each_gets_its_owners_profiles() {
        let store = SqlStore::builder("sqlite::memory:")
            .without_encryption()
            .connect()
            .await
            .unwrap();
        for (owner, name) in [
            ("ann@seller.example", "default"),
            ("ann@seller.example", "formal"),
            ("bob@seller.example", "default"),
        ] {
            store
                .save_voice_profile(&profile(owner, name))
                .await
                .unwrap();
        }
        // Saved again: the read gives the latest version.
        store
            .save_voice_profile(&profile("ann@seller.example", "default"))
            .await
            .unwrap();
        let before = store.inner.voice_reads.queries();
        // The in-memory database's one connection, held while the reads queue up.
        let held = store.pool().acquire().await.unwrap();
        let owners = [
            "ann@seller.example",
            "bob@seller.example",
            "cy@seller.example",
        ];
        let reads: Vec<_> = (0..48)
            .map(|i| {
                let (store, owner) = (store.clone(), EmailAddress::parse(owners[i % 3]).unwrap());
                tokio::spawn(async move { (i % 3, store.voice_profiles(&owner).await.unwrap()) })
            })
            .collect();
        while store.inner.voice_reads.queued() < 48 {
            tokio::task::yield_now().await;
        }
        drop(held);
        for read in futures::future::join_all(reads).await {
            let (who, got) = read.unwrap();
            let got: Vec<(String, String, u32)> = got
                .into_iter()
                .map(|p| (p.owner.to_string(), p.name, p.version))
                .collect();
            let want: Vec<(String, String, u32)> = match who {
                0 => vec![
                    ("ann@seller.example".into(), "default".into(), 2),
                    ("ann@seller.example".into(), "formal".into(), 1),
                ],
                1 => vec![("bob@seller.example".into(), "default".into(), 1)],
                _ => vec![],
            };
            assert_eq!(got, want);
        }
        let queries = store.inner.voice_reads.queries() - before;
        assert_eq!(queries, 1, "48 reads waiting together go out in one query");
        // A profile saved after those reads is in the next read.
        store
            .save_voice_profile(&profile("cy@seller.example", "default"))
            .await
            .unwrap();
        let cy = EmailAddress::parse("cy@seller.example").unwrap();
        assert_eq!(store.voice_profiles(&cy).await.unwrap().len(), 1);
    }
}
