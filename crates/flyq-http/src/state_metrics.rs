//! Metrics read from the broker's state at scrape time: partition offsets and sizes, consumer
//! group offsets and lag, and the process's memory and file descriptors.
//!
//! These are gauges of state that already exists, so they are computed when Prometheus asks
//! rather than kept up to date on every write; a deleted topic or group simply stops being
//! listed, with no stale series left behind. Labels are topic and group names, which
//! operators create; never client ids.

use std::fmt::Write;

use flyq_broker::Broker;

use crate::groups::with_lag;

/// One gauge family: its help line and samples, each with label pairs and a value.
struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            samples: Vec::new(),
        }
    }

    fn push(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push((labels, value));
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} gauge", self.name);
        for (labels, value) in &self.samples {
            out.push_str(self.name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (key, value)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{key}=\"{}\"", escape(value));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {value}");
        }
    }
}

/// A label value in the text format: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Appends the broker's state gauges to `out`.
pub(crate) fn render_broker(broker: &Broker, out: &mut String) {
    let mut start = Family::new(
        "flyq_partition_log_start_offset",
        "First offset still readable in the partition.",
    );
    let mut end = Family::new(
        "flyq_partition_high_watermark",
        "Offset after the last committed record (the log end, on a single node).",
    );
    let mut size = Family::new(
        "flyq_partition_size_bytes",
        "Bytes of the partition's segments.",
    );
    let mut segments = Family::new("flyq_partition_segments", "Segment files of the partition.");
    for topic in broker.topics() {
        for partition in &topic.partitions {
            let labels = || {
                vec![
                    ("topic", topic.name.to_string()),
                    ("partition", partition.index.to_string()),
                ]
            };
            let (view, storage) = (partition.view(), partition.storage());
            start.push(labels(), view.log_start_offset as f64);
            end.push(labels(), view.high_watermark as f64);
            size.push(labels(), storage.size_bytes as f64);
            segments.push(labels(), storage.segments as f64);
        }
    }
    let mut committed = Family::new(
        "flyq_group_committed_offset",
        "Offset a consumer group committed for a partition.",
    );
    let mut lag = Family::new(
        "flyq_group_lag",
        "Records between a group's committed offset and the partition's high watermark.",
    );
    let mut members = Family::new("flyq_group_members", "Members of a consumer group.");
    let coordinator = broker.groups();
    for (group, _protocol_type, _state) in coordinator.list() {
        if let Some(described) = coordinator.describe(&group) {
            members.push(
                vec![("group", group.clone())],
                described.members.len() as f64,
            );
        }
        for (topic, partition, offset) in coordinator.committed(&group, None) {
            let Some(offset) = offset else { continue };
            let entry = with_lag(broker, topic, partition, offset);
            let labels = vec![
                ("group", group.clone()),
                ("topic", entry.topic.clone()),
                ("partition", entry.partition.to_string()),
            ];
            committed.push(labels.clone(), entry.committed_offset as f64);
            if let Some(records) = entry.lag {
                lag.push(labels, records as f64);
            }
        }
    }
    for family in [start, end, size, segments, committed, lag, members] {
        family.render(out);
    }
}

/// Appends the process's resident memory and open file descriptors (Linux `/proc`; absent
/// elsewhere).
pub(crate) fn render_process(out: &mut String) {
    let resident_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        });
    if let Some(kib) = resident_kib {
        let mut family = Family::new(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        );
        family.push(Vec::new(), (kib * 1024) as f64);
        family.render(out);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let mut family = Family::new("process_open_fds", "Open file descriptors.");
        family.push(Vec::new(), fds.count() as f64);
        family.render(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_samples_follow_their_header() {
        let mut family = Family::new("flyq_group_lag", "Lag.");
        family.push(vec![("group", "a\"b\\c\nd".into())], 3.0);
        let mut out = String::new();
        family.render(&mut out);
        assert_eq!(
            out,
            "# HELP flyq_group_lag Lag.\n# TYPE flyq_group_lag gauge\nflyq_group_lag{group=\"a\\\"b\\\\c\\nd\"} 3\n"
        );
    }

    #[test]
    fn the_process_reports_its_memory() {
        let mut out = String::new();
        render_process(&mut out);
        let line = out
            .lines()
            .find(|l| l.starts_with("process_resident_memory_bytes "))
            .unwrap();
        let bytes: f64 = line.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(bytes > 1_000_000.0, "{line}");
    }
}
