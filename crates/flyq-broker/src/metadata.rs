//! The broker's persistent metadata on a single node: the cluster id and the topics (name,
//! id, partition count, config overrides), in `<data>/meta/topics.json`, replaced atomically.
//! (In cluster mode this state comes from the Raft metadata log instead.)

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{BrokerError, Result};
use crate::topic_config::TopicConfigs;

/// One topic as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TopicRecord {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    #[serde(default)]
    pub configs: TopicConfigs,
}

/// Everything stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MetadataImage {
    pub version: u32,
    pub cluster_id: String,
    pub topics: Vec<TopicRecord>,
    /// Producer ids below this were (possibly) handed out; allocation continues above it.
    #[serde(default)]
    pub producer_id_block_end: i64,
}

/// Where the metadata lives.
#[derive(Debug)]
pub(crate) struct MetadataStore {
    path: PathBuf,
}

fn io_error(context: &str, path: &Path, source: std::io::Error) -> BrokerError {
    BrokerError::Metadata {
        context: format!("{context} {}", path.display()),
        source,
    }
}

impl MetadataStore {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("meta").join("topics.json"),
        }
    }

    /// Loads the stored image, or a fresh one (new cluster id, no topics) on first start.
    pub fn load_or_init(&self) -> Result<MetadataImage> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io_error(
                    "parsing",
                    &self.path,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let image = MetadataImage {
                    version: 1,
                    cluster_id: Uuid::new_v4().simple().to_string(),
                    topics: Vec::new(),
                    producer_id_block_end: 0,
                };
                self.save(&image)?;
                Ok(image)
            }
            Err(e) => Err(io_error("reading", &self.path, e)),
        }
    }

    /// Replaces the stored image atomically and durably.
    pub fn save(&self, image: &MetadataImage) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(image)
            .map_err(|e| io_error("encoding", &self.path, std::io::Error::other(e)))?;
        let mut file = fs::File::create(&tmp).map_err(|e| io_error("creating", &tmp, e))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error("writing", &tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| io_error("renaming", &tmp, e))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("syncing", dir, e))
    }
}
