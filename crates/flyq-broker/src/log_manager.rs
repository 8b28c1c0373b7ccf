//! [`LogManager`]: the partition logs of a data directory, as files.
//!
//! It owns what is about directories and threads rather than topics: the data directory's
//! lock, where a partition's log lives, opening (recovering) a log, moving a deleted topic's
//! logs aside and removing them, the flusher that applies `flush.ms`, and the retention thread.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use flyq_log::{Flusher, Log, LogConfig, LogEnv};
use uuid::Uuid;

use crate::error::{BrokerError, Result};

/// The partition logs under one data directory.
pub(crate) struct LogManager {
    data_dir: PathBuf,
    env: Arc<LogEnv>,
    flusher: Flusher,
    /// An exclusive lock on `<data_dir>/.lock`, held while the manager lives: two processes
    /// appending to the same logs would corrupt them.
    _lock: std::fs::File,
}

impl std::fmt::Debug for LogManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogManager")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> BrokerError {
    move |source| BrokerError::Metadata { context, source }
}

impl LogManager {
    /// Takes the data directory (creating it), removes what deletions left behind, and starts
    /// the flusher.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let lock = lock_data_dir(data_dir)?;
        let flusher = Flusher::start(Duration::from_millis(10))
            .map_err(io("starting the flusher thread".into()))?;
        let manager = Self {
            data_dir: data_dir.to_owned(),
            env: LogEnv::os(),
            flusher,
            _lock: lock,
        };
        if let Ok(entries) = std::fs::read_dir(manager.topics_dir()) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".deleted-") {
                    remove_trash(&entry.path());
                }
            }
        }
        Ok(manager)
    }

    /// The environment every log of this directory shares (storage, clock, caches).
    pub fn env(&self) -> &Arc<LogEnv> {
        &self.env
    }

    fn topics_dir(&self) -> PathBuf {
        self.data_dir.join("topics")
    }

    fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.topics_dir().join(format!("{topic}-{partition}"))
    }

    /// Opens (recovering) the log of a partition, registered with the flusher.
    pub fn open_log(&self, topic: &str, partition: i32, config: LogConfig) -> Result<Arc<Log>> {
        let dir = self.partition_dir(topic, partition);
        let log = Arc::new(Log::open(&dir, config, Arc::clone(&self.env))?);
        report_recovery(topic, partition, log.recovery_report());
        self.flusher.register(&log);
        Ok(log)
    }

    /// Removes partition directories that `wanted(topic, partition)` does not claim: the logs
    /// of a topic whose deletion was committed just before a crash. Left in place, they would
    /// be adopted by a later topic of the same name.
    pub fn remove_orphans(&self, wanted: impl Fn(&str, i32) -> bool) {
        let Ok(entries) = std::fs::read_dir(self.topics_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((topic, partition)) = name.rsplit_once('-') else {
                continue;
            };
            let Ok(partition) = partition.parse::<i32>() else {
                continue;
            };
            if name.starts_with('.') || wanted(topic, partition) {
                continue;
            }
            tracing::warn!(target: "flyq::broker", dir = %entry.path().display(), "removing the log of a deleted topic or partition");
            remove_trash(&entry.path());
        }
    }

    /// Removes a deleted topic's logs: first moved aside under the topic's id (so that a crash
    /// cannot leave directories a later topic of the same name would adopt), then removed.
    pub fn remove_topic(&self, topic: &str, id: Uuid, partitions: i32) -> Result<()> {
        let trash = self.topics_dir().join(format!(".deleted-{}", id.simple()));
        std::fs::create_dir_all(&trash).map_err(io(format!("creating {}", trash.display())))?;
        for index in 0..partitions {
            let dir = self.partition_dir(topic, index);
            match std::fs::rename(&dir, trash.join(index.to_string())) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(format!("moving {} aside", dir.display()))(e)),
            }
        }
        remove_trash(&trash);
        Ok(())
    }

    /// Runs `each(owner)` every `interval` on a thread of its own, while `owner` lives (the
    /// retention pass over every log).
    pub fn every<T: Send + Sync + 'static>(
        name: &str,
        interval: Duration,
        owner: Weak<T>,
        each: impl Fn(&T) + Send + 'static,
    ) {
        let spawned = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                loop {
                    std::thread::sleep(interval);
                    let Some(owner) = owner.upgrade() else { return };
                    each(&owner);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(target: "flyq::broker", thread = name, error = %e, "could not start a background thread");
        }
    }
}

/// Takes the data directory's lock, creating the directory if needed.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File> {
    let path = data_dir.join(".lock");
    std::fs::create_dir_all(data_dir).map_err(io(format!(
        "creating the data directory {}",
        data_dir.display()
    )))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(format!("opening {}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(BrokerError::Metadata {
            context: format!(
                "locking the data directory {}: another flyq process is using it",
                data_dir.display()
            ),
            source: std::io::Error::from(std::io::ErrorKind::WouldBlock),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io(format!("locking {}", path.display()))(e)),
    }
}

/// Removes a deleted topic's data (moved aside by `remove_topic`, or left by a crash).
fn remove_trash(trash: &Path) {
    if let Err(e) = std::fs::remove_dir_all(trash) {
        tracing::warn!(target: "flyq::broker", dir = %trash.display(), error = %e, "could not remove a deleted topic's data");
    }
}

/// One line per partition that recovery had to change or fence (the storage engine has logged
/// the details by file already; this names the topic and partition).
fn report_recovery(topic: &str, partition: i32, report: &flyq_log::RecoveryReport) {
    if let Some(cut) = &report.truncation {
        tracing::warn!(
            target: "flyq::broker", topic, partition,
            first_dropped_offset = cut.first_dropped_offset, bytes_dropped = cut.bytes_dropped,
            segments_removed = cut.segments_removed.len(), reason = %cut.reason,
            "recovery truncated a torn tail (data not yet fsynced when the process stopped)"
        );
    }
    if let Some(damage) = &report.corruption {
        tracing::error!(
            target: "flyq::broker", topic, partition,
            segment_base_offset = damage.segment_base_offset, position = damage.position,
            detail = %damage.detail,
            "partition fenced: durable data is damaged; reads stop before it and writes are refused (inspect with `flyq log check`)"
        );
    }
}
