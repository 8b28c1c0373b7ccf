//! Partition assignors run by the group leader: range, roundrobin and cooperative-sticky, with
//! the Java client's names and (for range and roundrobin) its exact outputs, so mixed groups
//! agree. Pure functions of the members' subscriptions and the partition counts.

use std::collections::{BTreeMap, BTreeSet};

use crate::types::TopicPartition;

/// How the group leader spreads partitions over members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignor {
    /// Per topic, consecutive ranges of partitions; the first members get one more when it
    /// does not divide evenly ("range").
    Range,
    /// All partitions dealt round-robin over members sorted by id ("roundrobin").
    RoundRobin,
    /// Balanced, keeps partitions where they are, and moves one only after its owner revoked it
    /// in an earlier rebalance, so members keep consuming during a rebalance
    /// ("cooperative-sticky").
    CooperativeSticky,
}

/// One member's input to an assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) topics: Vec<String>,
    pub(crate) owned: Vec<TopicPartition>,
}

/// Member id -> its partitions, sorted.
pub(crate) type Assignment = BTreeMap<String, Vec<TopicPartition>>;

impl Assignor {
    /// The protocol name in JoinGroup, as the Java client spells it.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// The assignor with protocol name `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Assignor::Range,
            Assignor::RoundRobin,
            Assignor::CooperativeSticky,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// Whether members keep unrevoked partitions across a rebalance.
    pub fn cooperative(self) -> bool {
        self == Assignor::CooperativeSticky
    }

    /// Assigns the partitions of every subscribed topic (`partitions`: topic -> count).
    pub(crate) fn assign(
        self,
        members: &[Member],
        partitions: &BTreeMap<String, i32>,
    ) -> Assignment {
        let mut out: Assignment = members.iter().map(|m| (m.id.clone(), Vec::new())).collect();
        match self {
            Assignor::Range => range(members, partitions, &mut out),
            Assignor::RoundRobin => round_robin(members, partitions, &mut out),
            Assignor::CooperativeSticky => cooperative_sticky(members, partitions, &mut out),
        }
        for tps in out.values_mut() {
            tps.sort();
        }
        out
    }
}

fn subscribes(m: &Member, topic: &str) -> bool {
    m.topics.iter().any(|t| t == topic)
}

fn sorted(members: &[Member]) -> Vec<&Member> {
    let mut v: Vec<&Member> = members.iter().collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// Every partition of every topic someone subscribes to, sorted.
fn all_partitions<'a>(
    members: impl IntoIterator<Item = &'a Member>,
    partitions: &BTreeMap<String, i32>,
) -> Vec<TopicPartition> {
    let topics: BTreeSet<&str> = members
        .into_iter()
        .flat_map(|m| m.topics.iter().map(String::as_str))
        .collect();
    topics
        .into_iter()
        .flat_map(|t| {
            (0..partitions.get(t).copied().unwrap_or(0)).map(move |p| TopicPartition::new(t, p))
        })
        .collect()
}

fn range(members: &[Member], partitions: &BTreeMap<String, i32>, out: &mut Assignment) {
    for (topic, &count) in partitions {
        let consumers: Vec<&Member> = sorted(members)
            .into_iter()
            .filter(|m| subscribes(m, topic))
            .collect();
        let Ok(n) = i32::try_from(consumers.len()) else {
            continue;
        };
        if n == 0 {
            continue;
        }
        let (per, extra) = (count / n, count % n);
        for (i, m) in (0..).zip(consumers) {
            let start = i * per + i.min(extra);
            let len = per + i32::from(i < extra);
            if let Some(v) = out.get_mut(&m.id) {
                v.extend((start..start + len).map(|p| TopicPartition::new(topic.clone(), p)));
            }
        }
    }
}

fn round_robin(members: &[Member], partitions: &BTreeMap<String, i32>, out: &mut Assignment) {
    let members = sorted(members);
    if members.is_empty() {
        return;
    }
    let mut next = 0;
    for tp in all_partitions(members.iter().copied(), partitions) {
        // Somebody subscribes to every listed topic, so this finds a member within one lap.
        for _ in 0..members.len() {
            let m = members[next % members.len()];
            next += 1;
            if subscribes(m, &tp.topic) {
                if let Some(v) = out.get_mut(&m.id) {
                    v.push(tp);
                }
                break;
            }
        }
    }
}

fn cooperative_sticky(
    members: &[Member],
    partitions: &BTreeMap<String, i32>,
    out: &mut Assignment,
) {
    let members = sorted(members);
    let all = all_partitions(members.iter().copied(), partitions);
    let valid: BTreeSet<&TopicPartition> = all.iter().collect();
    // Who owns what now: first claim wins, invalid claims are dropped.
    let mut owner: BTreeMap<&TopicPartition, &str> = BTreeMap::new();
    let mut kept: BTreeMap<&str, Vec<&TopicPartition>> = BTreeMap::new();
    for m in &members {
        let mut mine: Vec<&TopicPartition> = m
            .owned
            .iter()
            .filter(|tp| valid.contains(tp) && subscribes(m, &tp.topic) && !owner.contains_key(tp))
            .collect();
        mine.sort();
        mine.dedup();
        for tp in &mine {
            owner.insert(tp, &m.id);
        }
        kept.insert(&m.id, mine);
    }
    // Quotas: everyone gets floor(n/m); n % m members may hold one more, preferably those
    // that already own the most (fewest moves).
    let n = all.len();
    let count = members.len();
    if count == 0 {
        return;
    }
    let (min_quota, mut extra) = (n / count, n % count);
    let mut by_owned: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
    by_owned.sort_by_key(|id| std::cmp::Reverse(kept.get(id).map_or(0, Vec::len)));
    for id in by_owned {
        let Some(mine) = kept.get_mut(id) else {
            continue;
        };
        let quota = if mine.len() > min_quota && extra > 0 {
            extra -= 1;
            min_quota + 1
        } else {
            min_quota
        };
        mine.truncate(quota);
    }
    let assigned: BTreeSet<&TopicPartition> = kept.values().flatten().copied().collect();
    let mut result: BTreeMap<&str, Vec<&TopicPartition>> = kept;
    for tp in all.iter().filter(|tp| !assigned.contains(tp)) {
        let target = members
            .iter()
            .filter(|m| subscribes(m, &tp.topic))
            .min_by_key(|m| (result.get(m.id.as_str()).map_or(0, Vec::len), m.id.as_str()));
        if let Some(m) = target {
            result.entry(&m.id).or_default().push(tp);
        }
    }
    // A partition still owned by someone else goes to its new member only after the owner
    // has revoked it (it is unowned in the next rebalance).
    for (id, tps) in result {
        if let Some(v) = out.get_mut(id) {
            v.extend(
                tps.into_iter()
                    .filter(|tp| owner.get(tp).is_none_or(|o| *o == id))
                    .cloned(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str], owned: &[(&str, i32)]) -> Member {
        Member {
            id: id.into(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            owned: owned
                .iter()
                .map(|(t, p)| TopicPartition::new(*t, *p))
                .collect(),
        }
    }

    fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter()
            .map(|(t, p)| TopicPartition::new(*t, *p))
            .collect()
    }

    #[test]
    fn range_gives_leading_members_the_remainder_per_topic() {
        let members = [member("b", &["t", "u"], &[]), member("a", &["t", "u"], &[])];
        let counts = BTreeMap::from([("t".to_owned(), 3), ("u".to_owned(), 3)]);
        let a = Assignor::Range.assign(&members, &counts);
        assert_eq!(a["a"], tps(&[("t", 0), ("t", 1), ("u", 0), ("u", 1)]));
        assert_eq!(a["b"], tps(&[("t", 2), ("u", 2)]));
    }

    #[test]
    fn roundrobin_deals_across_topics_and_skips_non_subscribers() {
        let members = [member("a", &["t", "u"], &[]), member("b", &["t"], &[])];
        let counts = BTreeMap::from([("t".to_owned(), 3), ("u".to_owned(), 2)]);
        let a = Assignor::RoundRobin.assign(&members, &counts);
        assert_eq!(a["a"], tps(&[("t", 0), ("t", 2), ("u", 0), ("u", 1)]));
        assert_eq!(a["b"], tps(&[("t", 1)]));
    }

    #[test]
    fn cooperative_sticky_keeps_owned_partitions_and_revokes_in_two_phases() {
        let counts = BTreeMap::from([("t".to_owned(), 6)]);
        // Two members own three partitions each; a third joins.
        let first = [
            member("a", &["t"], &[("t", 0), ("t", 1), ("t", 2)]),
            member("b", &["t"], &[("t", 3), ("t", 4), ("t", 5)]),
            member("c", &["t"], &[]),
        ];
        let phase1 = Assignor::CooperativeSticky.assign(&first, &counts);
        // Owners keep two each; the partition each gives up is not handed out yet.
        assert_eq!(phase1["a"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(phase1["b"], tps(&[("t", 3), ("t", 4)]));
        assert!(phase1["c"].is_empty());
        // After revoking, members rejoin owning what phase 1 gave them.
        let second: Vec<Member> = ["a", "b", "c"]
            .iter()
            .map(|id| Member {
                id: (*id).into(),
                topics: vec!["t".into()],
                owned: phase1[*id].clone(),
            })
            .collect();
        let phase2 = Assignor::CooperativeSticky.assign(&second, &counts);
        assert_eq!(phase2["a"], phase1["a"]);
        assert_eq!(phase2["b"], phase1["b"]);
        assert_eq!(phase2["c"], tps(&[("t", 2), ("t", 5)]));
        // Stable: the same input again moves nothing.
        let third: Vec<Member> = second
            .iter()
            .map(|m| Member {
                owned: phase2[&m.id].clone(),
                ..m.clone()
            })
            .collect();
        assert_eq!(Assignor::CooperativeSticky.assign(&third, &counts), phase2);
    }

    #[test]
    fn cooperative_sticky_hands_a_leavers_partitions_to_the_rest_at_once() {
        let counts = BTreeMap::from([("t".to_owned(), 6)]);
        let members = [
            member("a", &["t"], &[("t", 0), ("t", 1)]),
            member("b", &["t"], &[("t", 2), ("t", 3)]),
        ];
        let a = Assignor::CooperativeSticky.assign(&members, &counts);
        assert_eq!(a["a"], tps(&[("t", 0), ("t", 1), ("t", 4)]));
        assert_eq!(a["b"], tps(&[("t", 2), ("t", 3), ("t", 5)]));
    }

    #[test]
    fn names_round_trip() {
        for a in [
            Assignor::Range,
            Assignor::RoundRobin,
            Assignor::CooperativeSticky,
        ] {
            assert_eq!(Assignor::from_name(a.name()), Some(a));
        }
    }
}
