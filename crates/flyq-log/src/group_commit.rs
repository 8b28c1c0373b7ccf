//! Durability for [`Log`]: group commit ([`Log::sync_to`] and its sync-leader machinery),
//! [`Log::flush`], [`Log::flush_if_due`], and sealing rolled segments. Syncs run outside the
//! writer lock, so appends continue while an `fdatasync` runs.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::{IoContext, Result};
use crate::log::Log;
use crate::writer::Unsealed;

#[derive(Debug, Default)]
pub(crate) struct SyncState {
    /// A leader is syncing.
    syncing: bool,
    /// The largest offset any caller is waiting to see durable.
    requested: i64,
}

/// How many syncs in a row one leader runs for others before handing the role on.
const MAX_LEADER_ROUNDS: u32 = 8;

impl Log {
    /// Blocks until every record below `offset` is durable. Concurrent callers share syncs
    /// (group commit): the first becomes the leader and syncs everything written so far; the
    /// others wait and return as soon as a sync covers them. While callers are still waiting
    /// for data the last sync did not cover, the leader runs another sync right away (up to
    /// [`MAX_LEADER_ROUNDS`]) instead of handing the role to a waiter that would first have to
    /// be woken: on a busy machine that wake-up costs as much as a sync.
    pub fn sync_to(&self, offset: i64) -> Result<()> {
        let mut state = self.sync.lock();
        loop {
            self.check_poison()?;
            // A truncation may have moved the end below what the caller asked for.
            let target = offset.min(self.log_end_offset());
            if self.durable_offset() >= target {
                return Ok(());
            }
            state.requested = state.requested.max(target);
            if state.syncing {
                self.synced.wait(&mut state);
                continue;
            }
            state.syncing = true;
            let mut rounds = 0;
            let result = loop {
                let result = parking_lot::MutexGuard::unlocked(&mut state, || self.sync_once());
                rounds += 1;
                self.synced.notify_all();
                let wanted = state.requested.min(self.log_end_offset());
                if result.is_err() || wanted <= self.durable_offset() || rounds >= MAX_LEADER_ROUNDS
                {
                    break result;
                }
            };
            state.syncing = false;
            self.synced.notify_all();
            result?;
        }
    }

    /// Runs `f` as the sync leader: no sync runs while it does. `flush` uses it to seal, and
    /// `truncate_to` so that no sync can act on a position the truncation is removing.
    pub(crate) fn lead<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let mut state = self.sync.lock();
        while state.syncing {
            self.synced.wait(&mut state);
        }
        state.syncing = true;
        let result = parking_lot::MutexGuard::unlocked(&mut state, f);
        state.syncing = false;
        drop(state);
        self.synced.notify_all();
        result
    }

    /// Lowers what waiting callers asked for to a truncated end.
    pub(crate) fn forget_requests_past(&self, end: i64) {
        let mut state = self.sync.lock();
        state.requested = state.requested.min(end);
    }

    /// Syncs everything appended so far: the directory if segments were created, then rolled
    /// segments (sealing each), then the active segment, whose durable index entries are then
    /// written.
    fn sync_once(&self) -> Result<()> {
        let (unsealed, dir_dirty, rolls, segment, file, position, next_offset) = {
            let w = self.writer.lock();
            let active = (
                Arc::clone(&w.active),
                w.file.clone(),
                w.position,
                w.next_offset,
            );
            (
                w.unsealed.clone(),
                w.dir_dirty,
                w.rolls,
                active.0,
                active.1,
                active.2,
                active.3,
            )
        };
        if dir_dirty {
            self.env
                .storage
                .sync_dir(&self.dir)
                .context(|| format!("syncing {}", self.dir.display()))
                .map_err(|e| self.poison_with(e))?;
        }
        for rolled in &unsealed {
            match self.seal_rolled(rolled) {
                // Its data is synced; only the seal waits for space. Keep syncing the rest.
                Err(e) if e.is_retriable() => tracing::warn!(
                    target: "flyq::log", segment = %rolled.segment.log_path().display(), error = %e,
                    "rolled segment synced but not sealed yet"
                ),
                other => other?,
            }
        }
        if let Some(file) = file {
            let started = std::time::Instant::now();
            file.sync_data()
                .context(|| format!("syncing {}", segment.log_path().display()))
                .map_err(|e| self.poison_with(e))?;
            metrics::histogram!("flyq_log_fsync_duration_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        // The data is durable now whatever happens to the index entries: if writing them fails
        // for lack of space they stay in memory and recovery would just scan further.
        match segment.persist_indexes(position, next_offset) {
            Err(e) if e.is_retriable() => {
                tracing::warn!(target: "flyq::log", dir = %self.dir.display(), error = %e, "index entries not written");
            }
            other => other.map_err(|e| self.poison_with(e))?,
        }
        self.durable_end.fetch_max(next_offset, Ordering::AcqRel);
        let mut w = self.writer.lock();
        w.unsealed.retain(|u| !u.segment.is_sealed());
        if w.rolls == rolls {
            w.dir_dirty = false;
        }
        if w.next_offset == next_offset {
            w.first_unsynced_ms = None;
        }
        Ok(())
    }

    /// Syncs and seals a rolled segment. A full disk while writing its index leaves it unsealed
    /// (retried by the next sync); any other failure poisons the log.
    fn seal_rolled(&self, rolled: &Unsealed) -> Result<()> {
        let segment = &rolled.segment;
        if segment.is_sealed() {
            return Ok(());
        }
        let file = match &rolled.file {
            Some(f) => Arc::clone(f),
            None => segment.file()?,
        };
        file.sync_data()
            .context(|| format!("syncing {}", segment.log_path().display()))
            .map_err(|e| self.poison_with(e))?;
        segment.seal().map_err(|e| {
            if e.is_retriable() {
                e
            } else {
                self.poison_with(e)
            }
        })
    }

    /// Syncs everything appended so far and seals rolled segments.
    pub fn flush(&self) -> Result<()> {
        self.sync_to(self.log_end_offset())?;
        if self.writer.lock().unsealed.is_empty() {
            return Ok(());
        }
        // The data was durable already, but rolled segments still wait for their seal: take
        // the leader role for one more sync.
        self.lead(|| {
            self.check_poison()?;
            self.sync_once()
        })
    }

    /// Syncs if the oldest unsynced append is older than `flush.ms`, or (whatever the policy)
    /// if rolled segments wait for their seal. Returns whether it synced.
    pub fn flush_if_due(&self) -> Result<bool> {
        let interval = self.config.read().flush.interval;
        let due = {
            let w = self.writer.lock();
            let aged = match (interval, w.first_unsynced_ms) {
                (Some(interval), Some(first)) => {
                    self.env.clock.now_ms() - first >= interval.as_millis() as i64
                }
                _ => false,
            };
            aged || !w.unsealed.is_empty()
        };
        if due {
            self.flush()?;
        }
        Ok(due)
    }
}
