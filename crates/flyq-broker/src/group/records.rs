//! The records FlyQ writes to `__consumer_offsets`, and their encoding.
//!
//! Keys start with a version byte and a kind; values are fixed binary layouts. A null value is
//! a tombstone (the offset or group was deleted). All integers big-endian, strings with a u16
//! length.
//!
//! ```text
//! offset commit  key:   01 'o' group topic partition(i32)
//!                value: 01 offset(i64) leader_epoch(i32) commit_time_ms(i64) metadata
//! group          key:   01 'g' group
//!                value: 01 generation(i32) protocol_type
//! ```

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_time_ms: i64,
}

/// One decoded record of `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<CommittedOffset>,
    },
    Group {
        group: String,
        value: Option<(i32, String)>,
    },
}

const VERSION: u8 = 1;

fn put_str(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// A reader past the leading version byte, if it is the version this code writes.
    fn versioned(bytes: &'a [u8]) -> Option<Self> {
        let mut reader = Reader(bytes);
        (reader.u8()? == VERSION).then_some(reader)
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Option<i64> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Some(i64::from_be_bytes(a))
    }
    fn string(&mut self) -> Option<String> {
        let len = self
            .take(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

impl Entry {
    /// The record's key and value (`None` for a tombstone).
    pub fn encode(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut key = vec![VERSION];
        match self {
            Entry::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                key.push(b'o');
                put_str(&mut key, group);
                put_str(&mut key, topic);
                key.extend_from_slice(&partition.to_be_bytes());
                let value = value.as_ref().map(|v| {
                    let mut out = vec![VERSION];
                    out.extend_from_slice(&v.offset.to_be_bytes());
                    out.extend_from_slice(&v.leader_epoch.to_be_bytes());
                    out.extend_from_slice(&v.commit_time_ms.to_be_bytes());
                    put_str(&mut out, &v.metadata);
                    out
                });
                (key, value)
            }
            Entry::Group { group, value } => {
                key.push(b'g');
                put_str(&mut key, group);
                let value = value.as_ref().map(|(generation, protocol_type)| {
                    let mut out = vec![VERSION];
                    out.extend_from_slice(&generation.to_be_bytes());
                    put_str(&mut out, protocol_type);
                    out
                });
                (key, value)
            }
        }
    }

    /// Decodes a record; `None` for anything malformed or of an unknown version (skipped).
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Option<Entry> {
        let mut k = Reader::versioned(key)?;
        match k.u8()? {
            b'o' => {
                let (group, topic, partition) = (k.string()?, k.string()?, k.i32()?);
                let value = match value {
                    None => None,
                    Some(v) => {
                        let mut v = Reader::versioned(v)?;
                        let (offset, leader_epoch, commit_time_ms) = (v.i64()?, v.i32()?, v.i64()?);
                        Some(CommittedOffset {
                            offset,
                            leader_epoch,
                            commit_time_ms,
                            metadata: v.string()?,
                        })
                    }
                };
                Some(Entry::Offset {
                    group,
                    topic,
                    partition,
                    value,
                })
            }
            b'g' => {
                let group = k.string()?;
                let value = match value {
                    None => None,
                    Some(v) => {
                        let mut v = Reader::versioned(v)?;
                        Some((v.i32()?, v.string()?))
                    }
                };
                Some(Entry::Group { group, value })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_garbage_is_skipped() {
        let entries = [
            Entry::Offset {
                group: "g".into(),
                topic: "orders".into(),
                partition: 3,
                value: Some(CommittedOffset {
                    offset: 42,
                    leader_epoch: 0,
                    metadata: "m".into(),
                    commit_time_ms: 9,
                }),
            },
            Entry::Offset {
                group: "g".into(),
                topic: "orders".into(),
                partition: 3,
                value: None,
            },
            Entry::Group {
                group: "g".into(),
                value: Some((7, "consumer".into())),
            },
            Entry::Group {
                group: "g".into(),
                value: None,
            },
        ];
        for entry in entries {
            let (key, value) = entry.encode();
            assert_eq!(Entry::decode(&key, value.as_deref()), Some(entry));
        }
        assert_eq!(Entry::decode(&[9, b'o'], None), None);
        assert_eq!(Entry::decode(&[1, b'o', 0, 5, b'a'], None), None);
    }
}
