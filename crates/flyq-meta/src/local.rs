//! [`LocalStore`]: the metadata of a single node, kept in one file.
//!
//! `<data>/meta/topics.json` holds the whole image as JSON and is replaced atomically and
//! durably on every command (written to a temporary file, synced, renamed, directory synced),
//! through the storage engine's [`Storage`] trait. A crash leaves the old image or the new one.
//! Metadata changes are rare and the image is small, so rewriting it whole is simpler and as
//! safe as a log of commands.
//!
//! Format version 2 stores each partition's replicas, leader, leader epoch and in-sync
//! replicas; version 1 (before placement existed) stored a partition count, and is read as
//! partitions led by this node at epoch 0.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flyq_log::storage::{Storage, read_file, write_file_atomic};
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::{MetaError, Result};
use crate::image::{Applied, MetadataCommand, MetadataImage, PartitionImage, TopicImage};
use crate::store::MetadataStore;
use crate::topic_config::TopicConfigs;

const FILE: &str = "topics.json";
const VERSION: u32 = 2;
/// The image is small; a file larger than this is not one.
const MAX_FILE_BYTES: u64 = 256 << 20;

/// The metadata of a single node, in `<data>/meta/topics.json`.
pub struct LocalStore {
    storage: Arc<dyn Storage>,
    path: PathBuf,
    image: Mutex<Arc<MetadataImage>>,
    changes: watch::Sender<u64>,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A partition list as stored: version 2's placements, or version 1's count.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum StoredPartitions {
    Placed(Vec<PartitionImage>),
    Count(i32),
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredTopic {
    name: String,
    id: Uuid,
    partitions: StoredPartitions,
    #[serde(default)]
    configs: TopicConfigs,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredImage {
    version: u32,
    cluster_id: String,
    topics: Vec<StoredTopic>,
    #[serde(default)]
    producer_id_block_end: i64,
}

fn io(context: &str, path: &Path) -> impl FnOnce(std::io::Error) -> MetaError {
    let context = format!("{context} {}", path.display());
    move |source| MetaError::Io { context, source }
}

impl LocalStore {
    /// Opens the store in `data_dir`, creating a new cluster's image (with a fresh cluster id)
    /// on first start. Partitions of a version-1 file are placed on `node_id`.
    pub fn open(storage: Arc<dyn Storage>, data_dir: &Path, node_id: i32) -> Result<Self> {
        let dir = data_dir.join("meta");
        let path = dir.join(FILE);
        storage.create_dir_all(&dir).map_err(io("creating", &dir))?;
        let image = match read_file(storage.as_ref(), &path, MAX_FILE_BYTES) {
            Ok(bytes) => decode(&bytes, node_id).map_err(|e| {
                io("parsing", &path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let image = MetadataImage::new(Uuid::new_v4().simple().to_string());
                save(storage.as_ref(), &path, &image)?;
                image
            }
            Err(e) => return Err(io("reading", &path)(e)),
        };
        let (changes, _) = watch::channel(0);
        Ok(Self {
            storage,
            path,
            image: Mutex::new(Arc::new(image)),
            changes,
        })
    }

    /// Applies `command` and writes the new image before returning (blocking file I/O).
    pub fn apply(&self, command: &MetadataCommand) -> Result<Applied> {
        let mut current = self.image.lock();
        let mut next = MetadataImage::clone(&current);
        let applied = next.apply(command)?;
        save(self.storage.as_ref(), &self.path, &next)?;
        *current = Arc::new(next);
        self.changes.send_modify(|n| *n += 1);
        Ok(applied)
    }
}

impl MetadataStore for LocalStore {
    fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image.lock())
    }

    fn submit(&self, command: MetadataCommand) -> BoxFuture<'_, Result<Applied>> {
        // The write is a few small synced files: done in place, the caller is on a thread
        // that may block (the broker runs metadata work off the async workers).
        Box::pin(async move { self.apply(&command) })
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

fn decode(bytes: &[u8], node_id: i32) -> std::result::Result<MetadataImage, String> {
    let stored: StoredImage = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if stored.version > VERSION {
        return Err(format!(
            "format version {} is newer than this FlyQ reads ({VERSION})",
            stored.version
        ));
    }
    let mut topics = BTreeMap::new();
    for topic in stored.topics {
        let partitions = match topic.partitions {
            StoredPartitions::Placed(partitions) => partitions,
            StoredPartitions::Count(n) => (0..n.max(0))
                .map(|_| PartitionImage::new(vec![node_id]))
                .collect(),
        };
        topics.insert(
            topic.name.clone(),
            TopicImage {
                name: topic.name,
                id: topic.id,
                configs: topic.configs,
                partitions,
            },
        );
    }
    Ok(MetadataImage {
        cluster_id: stored.cluster_id,
        topics,
        producer_id_block_end: stored.producer_id_block_end,
    })
}

fn save(storage: &dyn Storage, path: &Path, image: &MetadataImage) -> Result<()> {
    let stored = StoredImage {
        version: VERSION,
        cluster_id: image.cluster_id.clone(),
        topics: image
            .topics
            .values()
            .map(|t| StoredTopic {
                name: t.name.clone(),
                id: t.id,
                partitions: StoredPartitions::Placed(t.partitions.clone()),
                configs: t.configs.clone(),
            })
            .collect(),
        producer_id_block_end: image.producer_id_block_end,
    };
    let bytes = serde_json::to_vec_pretty(&stored)
        .map_err(|e| io("encoding", path)(std::io::Error::other(e)))?;
    write_file_atomic(storage, path, &bytes).map_err(io("writing", path))
}

#[cfg(test)]
mod tests {
    use flyq_log::storage::{FsStorage, SimStorage};

    use super::*;

    fn create(name: &str) -> MetadataCommand {
        MetadataCommand::CreateTopic {
            name: name.into(),
            id: Uuid::new_v4(),
            configs: TopicConfigs::new(),
            partitions: vec![vec![1], vec![1]],
        }
    }

    #[test]
    fn the_image_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn Storage> = Arc::new(FsStorage);
        let store = LocalStore::open(Arc::clone(&fs), dir.path(), 1).unwrap();
        store.apply(&create("t")).unwrap();
        let before = store.image();
        drop(store);
        let reopened = LocalStore::open(fs, dir.path(), 1).unwrap();
        assert_eq!(*reopened.image(), *before);
    }

    #[test]
    fn a_version_1_file_is_read_as_partitions_led_by_this_node() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("meta")).unwrap();
        let id = Uuid::new_v4();
        let v1 = format!(
            r#"{{"version":1,"cluster_id":"abc","topics":[{{"name":"t","id":"{id}","partitions":3,"configs":{{"retention.ms":"1000"}}}}],"producer_id_block_end":2000}}"#
        );
        std::fs::write(dir.path().join("meta").join(FILE), v1).unwrap();
        let store = LocalStore::open(Arc::new(FsStorage), dir.path(), 7).unwrap();
        let image = store.image();
        assert_eq!(image.cluster_id, "abc");
        assert_eq!(image.producer_id_block_end, 2000);
        let topic = &image.topics["t"];
        assert_eq!(topic.id, id);
        assert_eq!(topic.configs["retention.ms"], "1000");
        assert_eq!(topic.partitions, vec![PartitionImage::new(vec![7]); 3]);
    }

    #[test]
    fn a_crash_at_any_step_of_a_write_leaves_the_old_image_or_the_new_one() {
        let dir = Path::new("/data");
        for crash_at in 1..16 {
            for seed in 0..4 {
                let sim = SimStorage::new();
                let store = LocalStore::open(Arc::new(sim.clone()), dir, 1).unwrap();
                store.apply(&create("a")).unwrap();
                let old = MetadataImage::clone(&store.image());
                sim.crash_after_ops(crash_at, seed);
                let acknowledged = store.apply(&create("b")).is_ok();
                let disk = sim
                    .take_crash_image()
                    .unwrap_or_else(|| sim.crash_image(seed));
                let reopened = LocalStore::open(Arc::new(disk), dir, 1).unwrap();
                let found = MetadataImage::clone(&reopened.image());
                let mut new = old.clone();
                new.topics = store.image().topics.clone();
                if acknowledged {
                    assert!(
                        found.topics.contains_key("b"),
                        "crash at {crash_at}: lost an acknowledged command"
                    );
                }
                assert!(
                    found == old || found.topics.len() == 2,
                    "crash at {crash_at}: {found:?}"
                );
            }
        }
    }

    #[test]
    fn a_failed_sync_changes_nothing() {
        let sim = SimStorage::new();
        let store = LocalStore::open(Arc::new(sim.clone()), Path::new("/data"), 1).unwrap();
        store.apply(&create("a")).unwrap();
        let before = store.image();
        sim.set_fail_syncs(true);
        assert!(store.apply(&create("b")).is_err());
        assert_eq!(*store.image(), *before);
    }

    #[tokio::test]
    async fn submit_notifies_watchers() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(Arc::new(FsStorage), dir.path(), 1).unwrap();
        let mut changes = store.changes();
        store.submit(create("t")).await.unwrap();
        assert!(changes.has_changed().unwrap());
        assert_eq!(*changes.borrow_and_update(), 1);
    }
}
