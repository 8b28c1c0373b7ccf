"""OffsetCommit of partitions that do not exist, with confluent-kafka against a real flyq serve.

Kafka answers UNKNOWN_TOPIC_OR_PARTITION for each such partition, stores nothing for it, and
still commits the other partitions of the same request. Metadata above 4 KiB is likewise refused
for its own partition only.
"""
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, TopicPartition

from conftest import wait_until
from test_confluent_kafka import admin, consumer, create_topic

UNKNOWN = KafkaError.UNKNOWN_TOPIC_OR_PART


def outcome(partitions):
    """(topic, partition, error code or None) of each partition of an answer."""
    return sorted((tp.topic, tp.partition, tp.error.code() if tp.error else None) for tp in partitions)


def stored_offsets(flyq, group):
    """(topic, partition, offset) of every offset the group has committed (OffsetFetch of all)."""
    client = admin(flyq)  # keep the client alive until its future resolves
    listed = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=10)
    return sorted((tp.topic, tp.partition, tp.offset) for tp in listed.topic_partitions)


def test_a_consumer_commit_to_unknown_partitions_fails_for_those_and_commits_the_rest(flyq):
    create_topic(flyq, "commit-known", 2)
    group = "commit-unknown-group"
    answers = []
    c = consumer(flyq, group, on_commit=lambda err, partitions: answers.append(partitions))
    c.commit(offsets=[
        TopicPartition("commit-known", 0, 7),
        TopicPartition("commit-known", 1, 7, metadata="m" * 5000),
        TopicPartition("commit-known", 5, 7),  # the topic has two partitions
        TopicPartition("commit-no-such-topic", 0, 7),
    ], asynchronous=True)
    wait_until(lambda: (c.poll(0.1), answers)[1], 15, "the commit answer")
    c.close()
    # librdkafka copies a failed partition's code onto the partitions that succeeded, so a
    # consumer cannot see that partition 0 was committed: the group's offsets show it.
    assert outcome(answers[0])[1:] == [
        ("commit-known", 1, KafkaError.OFFSET_METADATA_TOO_LARGE),
        ("commit-known", 5, UNKNOWN),
        ("commit-no-such-topic", 0, UNKNOWN),
    ]
    assert stored_offsets(flyq, group) == [("commit-known", 0, 7)]


def test_alter_consumer_group_offsets_of_unknown_partitions_fails_for_those_and_stores_the_rest(flyq):
    create_topic(flyq, "alter-known", 2)
    group = "alter-unknown-group"
    client = admin(flyq)
    request = ConsumerGroupTopicPartitions(group, [
        TopicPartition("alter-known", 1, 11),
        TopicPartition("alter-known", 9, 11),
        TopicPartition("alter-no-such-topic", 0, 11),
    ])
    answer = client.alter_consumer_group_offsets([request])[group].result(timeout=10)
    assert outcome(answer.topic_partitions) == [
        ("alter-known", 1, None),
        ("alter-known", 9, UNKNOWN),
        ("alter-no-such-topic", 0, UNKNOWN),
    ]
    assert stored_offsets(flyq, group) == [("alter-known", 1, 11)]
